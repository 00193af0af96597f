// The per-call half of the int8 scheme: the activations [M, K] cut into four int8 slices per
// row (the row's scale a power of two, so |x * scale| < 128; each slice the nearest integer of
// what is left, times 128), written in 16 x 64 tile order. See ozaki_int8.c.
//
//   gcc -O2 -march=sapphirerapids slice_rows.c -o slice_rows -lm && ./slice_rows M K
#include <immintrin.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <math.h>
#include <time.h>
static double now(){struct timespec t; clock_gettime(CLOCK_MONOTONIC,&t); return t.tv_sec+t.tv_nsec*1e-9;}
int main(int argc,char**argv){
  if(argc<3){fprintf(stderr,"usage: %s M K\n",argv[0]);return 2;}
  int M=atoi(argv[1]),K=atoi(argv[2]),S=4; int KB=K/64;
  if(M<=0||K<=0||M%16||K%64){fprintf(stderr,"M must be a multiple of 16, K of 64\n");return 2;}
  float*x=aligned_alloc(64,(size_t)M*K*4); for(size_t i=0;i<(size_t)M*K;i++)x[i]=(rand()/(float)RAND_MAX-0.5f)*exp2f(rand()%8);
  int8_t*A=aligned_alloc(64,(size_t)S*M*K); float*scale=malloc(M*4);
  for(int rep=0;rep<5;rep++){double t0=now();
  for(int r=0;r<M;r++){ const float*row=x+(size_t)r*K; __m512 mx=_mm512_setzero_ps();
    for(int k=0;k<K;k+=16) mx=_mm512_max_ps(mx,_mm512_abs_ps(_mm512_loadu_ps(row+k)));
    float m=_mm512_reduce_max_ps(mx); int e; frexpf(m,&e); float sc=ldexpf(1.0f,7-e); scale[r]=1.0f/sc; // |x*sc| < 128
    __m512 vs=_mm512_set1_ps(sc), v128=_mm512_set1_ps(128.0f);
    int rb=r/16, rr=r%16;
    for(int k=0;k<K;k+=16){ __m512 v=_mm512_mul_ps(_mm512_loadu_ps(row+k),vs); int kb=k/64, kk=k%64;
      for(int s=0;s<S;s++){ __m512 q=_mm512_roundscale_ps(v,_MM_FROUND_TO_NEAREST_INT|_MM_FROUND_NO_EXC);
        __m128i b=_mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(q));
        _mm_storeu_si128((__m128i*)(A+((((size_t)s*(M/16)+rb)*KB+kb)*1024)+rr*64+kk),b);
        v=_mm512_mul_ps(_mm512_sub_ps(v,q),v128);} } }
  double t=now()-t0; printf("slice %dx%d into %d int8 slices: %.2f ms (%d)\n",M,K,S,t*1e3,A[12345]);}
}
