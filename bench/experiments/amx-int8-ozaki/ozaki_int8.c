// AMX int8 emulation of an f32 GEMM (Ozaki's slicing), measured 2026-12-04 and not built.
// See BENCHMARKS.md, "AMX int8 slice products, measured".
//
// What it times: the products of the scheme with the operands already cut into four int8
// slices a side (random slice values: the arithmetic and the memory traffic of the scheme, not
// its accuracy), the ten slice products whose orders sum to 3 or less, in 32 x 32 output blocks
// (four int32 accumulator tiles, two A and two B tiles: AMX's eight tile registers), one
// order at a time over the whole depth, each order's int32 block converted and added into the
// f32 output with its power-of-two weight. Columns in chunks of NC (default 128) so that the
// chunk's B slices stay in L2; A slices from L3 per chunk.
//
//   gcc -O2 -march=sapphirerapids ozaki_int8.c -o ozaki_int8
//   ./ozaki_int8 M K N SLICES MAX_ORDER [NC]      e.g. ./ozaki_int8 2048 1280 1280 4 3
//
// M must be a multiple of 32, K of 64, N of NC (itself a multiple of 32): the loops have no
// partial tiles (Bolt-tiny's 8260 rows were run as 8256).
//
// f32-equivalent GFLOP/s = 2 M K N / time. The f32 side: gemm_f32/ (the `gemm` crate as
// Burn builds it); the slicing of the activations per call: slice_rows.c.
#include <immintrin.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <time.h>
typedef struct { uint8_t palette, start; uint8_t r[14]; uint16_t colsb[16]; uint8_t rows[16]; } cfg_t;
static double now(){struct timespec t; clock_gettime(CLOCK_MONOTONIC,&t); return t.tv_sec+t.tv_nsec*1e-9;}
int S=4, ORD=3; // slices a side, highest order kept
int main(int argc,char**argv){
  if(argc<6){fprintf(stderr,"usage: %s M K N SLICES MAX_ORDER [NC]\n",argv[0]);return 2;}
  int M=atoi(argv[1]),K=atoi(argv[2]),N=atoi(argv[3]); S=atoi(argv[4]); ORD=atoi(argv[5]); int NC=argc>6?atoi(argv[6]):128;
  if(M<=0||K<=0||N<=0||NC<=0||M%32||K%64||NC%32||N%NC||S<1||ORD<0){
    fprintf(stderr,"M must be a multiple of 32, K of 64, N of NC (a multiple of 32)\n");return 2;}
  // ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA: Linux grants the tile state on request.
  if(syscall(SYS_arch_prctl, 0x1023, 18)){fprintf(stderr,"no AMX tile state granted\n");return 1;}
  cfg_t c; memset(&c,0,sizeof c); c.palette=1;
  for(int i=0;i<8;i++){c.colsb[i]=64;c.rows[i]=16;}
  _tile_loadconfig(&c);
  int KB=K/64, RB=M/16, CB=N/16;
  // A: [slice][rowblock][kb][16x64], B: [slice][colblock][kb][16x64] (VNNI)
  int8_t *A=aligned_alloc(64,(size_t)S*RB*KB*1024), *B=aligned_alloc(64,(size_t)S*CB*KB*1024);
  for(size_t i=0;i<(size_t)S*RB*KB*1024;i++)A[i]=(rand()%255)-127;
  for(size_t i=0;i<(size_t)S*CB*KB*1024;i++)B[i]=(rand()%255)-127;
  float *C=aligned_alloc(64,(size_t)M*N*4); memset(C,0,(size_t)M*N*4);
  int32_t acc[4][256] __attribute__((aligned(64)));
  #define AT(s,rb,kb) (A+(((size_t)(s)*RB+(rb))*KB+(kb))*1024)
  #define BT(s,cb,kb) (B+(((size_t)(s)*CB+(cb))*KB+(kb))*1024)
  for(int rep=0;rep<4;rep++){
  double t0=now(); long dps=0;
  for(int c0=0;c0<CB;c0+=NC/16)
  for(int rb=0;rb<RB;rb+=2)
  for(int cb=c0;cb<c0+NC/16 && cb<CB;cb+=2){
    for(int s=0;s<=ORD;s++){
      _tile_zero(0);_tile_zero(1);_tile_zero(2);_tile_zero(3);
      for(int kb=0;kb<KB;kb++){
        for(int i=0;i<=s;i++){ int j=s-i; if(i>=S||j>=S) continue;
          _tile_loadd(4,AT(i,rb,kb),64);_tile_loadd(5,AT(i,rb+1,kb),64);
          _tile_loadd(6,BT(j,cb,kb),64);_tile_loadd(7,BT(j,cb+1,kb),64);
          _tile_dpbssd(0,4,6);_tile_dpbssd(1,4,7);_tile_dpbssd(2,5,6);_tile_dpbssd(3,5,7); dps+=4;
        }
      }
      _tile_stored(0,acc[0],64);_tile_stored(1,acc[1],64);_tile_stored(2,acc[2],64);_tile_stored(3,acc[3],64);
      __m512 sc=_mm512_set1_ps(1.0f/(1<<(7*s)));
      for(int t=0;t<4;t++){int r0=(rb+(t>>1))*16, col=(cb+(t&1))*16;
        for(int r=0;r<16;r++){ float*o=C+(size_t)(r0+r)*N+col; _mm512_storeu_ps(o,_mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(acc[t]+r*16)),sc,_mm512_loadu_ps(o)));}}
    }
  }
  double t=now()-t0;
  double f32eq=2.0*M*K*N/t/1e9, raw=dps*16.0*16*64*2/t/1e12;
  printf("M%d K%d N%d S%d ord%d: %.2f ms, int8 %.2f TOP/s, f32-equivalent %.0f GFLOP/s (C=%g)\n",M,K,N,S,ORD,t*1e3,raw,f32eq,C[7]);
  }
}
