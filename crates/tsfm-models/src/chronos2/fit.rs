//! The configuration changes of `Chronos2Pipeline.fit`: fine-tuning with a longer context or
//! horizon than the checkpoint's grows `chronos_config.context_length` and
//! `max_output_patches`, and the saved `config.json` records them.
//!
//! The package grows them after training (its training forward still cuts the context to the
//! checkpoint's length); tsfm grows them when the model is loaded for a run, so training,
//! validation and the saved model all read the same context.

use super::model::Chronos2Model;

impl Chronos2Model {
    /// Grows the context to at least `context_length` steps and the output patches of one
    /// forward pass to cover `prediction_length` steps; never shrinks either. The time
    /// encoding keeps its divisor (the package stores `time_encoding_scale` = the original
    /// context length at construction and saves it), so the positions of a trained model do
    /// not move.
    pub fn fit_lengths(mut self, context_length: usize, prediction_length: usize) -> Self {
        let c = &mut self.config.chronos;
        c.time_encoding_scale.get_or_insert(c.context_length);
        c.context_length = c.context_length.max(context_length);
        c.max_output_patches = c
            .max_output_patches
            .max(prediction_length.div_ceil(c.output_patch_size));
        self
    }
}
