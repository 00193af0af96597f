mod common;
use burn::module::Module;
use common::*;
use tsfm_models::{Forecaster, FinetuneMode};
#[test]
fn dbg() {
    let a = weights(&Tiny::new(&device(), 11, 0.2));
    let b = weights(&Tiny::new(&device(), 11, 0.2));
    println!("same init: {}", a == b);
    let m = Tiny::new(&device(), 11, 0.2).apply_finetune_mode(FinetuneMode::HeadOnly);
    println!("after no_grad: {}", m.backbone.weight.val().is_require_grad());
    let m = m.train();
    println!("after train: {} head {}", m.backbone.weight.val().is_require_grad(), m.head.weight.val().is_require_grad());
    println!("same after train: {}", weights(&m) == a);
}
