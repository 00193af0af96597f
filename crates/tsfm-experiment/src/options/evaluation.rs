//! `evaluation:` -> the evaluator's options.
