//! The training loss of `scripts/training/train.py`: the context and the first
//! `prediction_length` target steps are tokenised with the context's scale, the labels get EOS
//! appended and `-100` where the target is missing, the decoder reads the labels shifted
//! right (start token first, `-100` -> pad), and the loss is the mean token cross-entropy over
//! the labels that are not `-100`.

use burn::Tensor;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, TensorData};

use super::fold_channels;
use super::model::{ChronosModel, IGNORE_INDEX};
use crate::forecaster::ForecastInput;

/// Labels and decoder inputs of one batch, `[rows, prediction_length (+ 1 with EOS)]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingTargets {
    pub labels: Vec<i64>,
    pub decoder_input_ids: Vec<i64>,
    pub rows: usize,
    pub len: usize,
}

impl ChronosModel {
    /// `label_input_transform` of each target (its first `prediction_length` steps; a shorter
    /// target counts as missing after its end) with its context's `scale`, then `labels` and
    /// `_shift_right(labels)`.
    pub fn training_targets(&self, targets: &[Vec<f32>], scale: &[f32]) -> TrainingTargets {
        let h = self.config.chronos.prediction_length;
        let pad = self.config.t5.pad_token_id as i64;
        let start = self.config.t5.decoder_start_token_id() as i64;
        let mut out = TrainingTargets {
            labels: Vec::new(),
            decoder_input_ids: Vec::new(),
            rows: targets.len(),
            len: 0,
        };
        for (target, &scale) in targets.iter().zip(scale) {
            let mut label: Vec<f32> = target.iter().copied().take(h).collect();
            label.resize(h, f32::NAN);
            let tokens = self.tokenizer.label_input_transform(&label, scale);
            let labels: Vec<i64> = tokens
                .ids
                .iter()
                .zip(&tokens.mask)
                .map(|(&id, &m)| if m == 0.0 { IGNORE_INDEX } else { id })
                .collect();
            out.len = labels.len();
            out.decoder_input_ids.push(start);
            out.decoder_input_ids.extend(
                labels[..labels.len() - 1]
                    .iter()
                    .map(|&l| if l == IGNORE_INDEX { pad } else { l }),
            );
            out.labels.extend(labels);
        }
        out
    }

    /// The cross-entropy of a batch with `future_values` (already checked).
    pub(crate) fn native_loss(&self, input: &ForecastInput) -> Tensor<1> {
        let device = self.shared.weight.device();
        let contexts = fold_channels(&input.past_values, input.past_observed_mask.as_ref());
        let future = input
            .future_values
            .as_ref()
            .expect("Forecaster::loss needs future_values");
        let targets = fold_channels(future, input.future_observed_mask.as_ref());
        let batch = self.tokenize_contexts(&contexts);
        let t = self.training_targets(&targets, &batch.scale);
        let (ids, mask) = batch.tensors(&device);
        let shape = [t.rows, t.len];
        let decoder_ids = Tensor::<2, Int>::from_data(
            TensorData::new(t.decoder_input_ids.clone(), shape),
            &device,
        );
        let logits = self.lm().forward(ids, mask, decoder_ids);
        token_cross_entropy(logits, &t.labels, shape)
    }
}

/// `CrossEntropyLoss(ignore_index=-100)` of `logits` `[rows, len, vocab]` against `labels`:
/// the mean over the labels that count (0 when none does, where PyTorch gives NaN).
pub fn token_cross_entropy(logits: Tensor<3>, labels: &[i64], shape: [usize; 2]) -> Tensor<1> {
    let device = logits.device();
    let [rows, len] = shape;
    let index: Vec<i64> = labels.iter().map(|&l| l.max(0)).collect();
    let weight: Vec<f32> = labels
        .iter()
        .map(|&l| if l == IGNORE_INDEX { 0.0 } else { 1.0 })
        .collect();
    let counted = weight.iter().sum::<f32>().max(1.0);
    let index = Tensor::<3, Int>::from_data(TensorData::new(index, [rows, len, 1]), &device);
    let weight = Tensor::<3>::from_data(TensorData::new(weight, [rows, len, 1]), &device);
    let picked = log_softmax(logits, 2).gather(2, index);
    (picked * weight).sum().neg() / counted
}
