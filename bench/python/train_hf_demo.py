"""The README demo's training job as our users write it in Python: HF `Trainer` + granite-tsfm.

    /work/venv/bin/python bench/python/train_hf_demo.py --windows W.safetensors --out-dir DIR
        [--model DIR] [--threads 2] [--order tsfm|shuffle] [--cycle-momentum] [--no-test]

W.safetensors comes from `target/release/examples/export_windows` (the same config and `--set`
overrides as `tsfm train`): the train / validation / test windows exactly as tsfm's trainer
feeds them to its TTM (already scaled and imputed, TTM's channel layout), the order tsfm's
trainer visits the training windows in, tsfm's resolved `TrainingArgs` and the checkpoint path.
Everything this script trains with comes from that file, so a `--set` given to the export (e.g.
`training.max_steps=100`) changes both sides alike.

The job: `TinyTimeMixerForPrediction.from_pretrained` on the same checkpoint (same config, same
initial weights); `Trainer` with the run's batch size, steps, evaluation / save / logging
cadence, `save_total_limit`, `load_best_model_at_end` on `eval_loss`, `EarlyStoppingCallback`
(patience, threshold), seed; AdamW (HF's decay groups: no decay on biases and layer norms, as
tsfm) and `OneCycleLR` (max_lr = learning_rate, total_steps = max_steps, pct_start, div
factors, cosine, no momentum cycling: tsfm's one_cycle keeps beta1 fixed) passed through
`optimizers=`; gradient clipping at max_grad_norm; evaluation batch = tsfm's eval batch,
loss only (`prediction_loss_only`, as tsfm's evaluation); after training the test split's loss
(`trainer.evaluate`) and the best model saved (`trainer.save_model`), as tsfm saves its model
and scores the test split. `--order tsfm` (default) visits the training windows in tsfm's
order through a sampler; `--order shuffle` uses HF's own seeded shuffle.

Prints one JSON line: wall_s (process start, from /proc, to the end, imports and data load
included), steps, samples_per_s (steps * batch / seconds in `trainer.train()`, which includes
its evaluations and checkpoints), e2e_samples_per_s (steps * batch / wall_s), best_eval_loss,
peak_rss_mb and the phases' times.
"""
import time

T_SCRIPT = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402


def process_age_s():
    """Seconds since this process started (/proc/self/stat field 22), or None."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


# Seconds between the process's start and this script's first line (interpreter start-up).
STARTUP_S = process_age_s()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--windows", required=True, help="safetensors file from export_windows")
    ap.add_argument("--out-dir", required=True, help="Trainer output_dir (checkpoints, model)")
    ap.add_argument("--model", help="checkpoint folder (default: the one the export names)")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--order", choices=("tsfm", "shuffle"), default="tsfm")
    ap.add_argument("--cycle-momentum", action="store_true",
                    help="OneCycleLR's default beta1 cycling (0.85-0.95); tsfm keeps beta1 fixed")
    ap.add_argument("--no-test", action="store_true", help="skip the test-split evaluation")
    args = ap.parse_args()
    loadavg = os.getloadavg()[0]

    t = time.perf_counter()
    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    from safetensors import safe_open
    from safetensors.torch import load_file
    from torch.optim import AdamW
    from torch.optim.lr_scheduler import OneCycleLR
    import transformers
    from transformers import EarlyStoppingCallback, Trainer, TrainingArguments
    import tsfm_public
    from tsfm_public.models.tinytimemixer import TinyTimeMixerForPrediction

    import_s = time.perf_counter() - t

    t = time.perf_counter()
    with safe_open(args.windows, framework="pt") as f:
        meta = f.metadata()
    tensors = load_file(args.windows)
    targs = json.loads(meta["training_args"])
    run_length = json.loads(meta["run_length"])
    model_dir = args.model or meta["model_path"]

    class Windows(torch.utils.data.Dataset):
        """One split's windows: each item the dict TinyTimeMixerForPrediction.forward takes."""

        def __init__(self, split):
            self.t = {k: tensors[f"{split}.{k}"] for k in
                      ("past_values", "past_observed_mask", "future_values", "future_observed_mask")}

        def __len__(self):
            return self.t["past_values"].shape[0]

        def __getitem__(self, i):
            return {k: v[i] for k, v in self.t.items()}

    train_ds, val_ds, test_ds = Windows("train"), Windows("val"), Windows("test")
    epoch_order = tensors["train.epoch_order"]
    load_s = time.perf_counter() - t

    class TsfmOrder(torch.utils.data.Sampler):
        """tsfm's trainer order: epoch e visits train.epoch_order[e] (Trainer calls set_epoch)."""

        def __init__(self):
            self.epoch = 0

        def set_epoch(self, epoch):
            self.epoch = epoch

        def __len__(self):
            return epoch_order.shape[1]

        def __iter__(self):
            return iter(epoch_order[self.epoch % epoch_order.shape[0]].tolist())

    class DemoTrainer(Trainer):
        def _get_train_sampler(self, train_dataset=None):
            if args.order == "tsfm":
                return TsfmOrder()
            return super()._get_train_sampler(train_dataset)

    t = time.perf_counter()
    transformers.set_seed(targs["seed"])
    model = TinyTimeMixerForPrediction.from_pretrained(model_dir)
    model_s = time.perf_counter() - t

    batch = targs["per_device_train_batch_size"]
    max_steps = run_length["max_steps"]
    strategy = {"no": "no", "steps": "steps", "epoch": "epoch", "best": "best"}
    training_args = TrainingArguments(
        output_dir=args.out_dir,
        max_steps=max_steps,
        per_device_train_batch_size=batch,
        per_device_eval_batch_size=targs["per_device_eval_batch_size"],
        gradient_accumulation_steps=targs["gradient_accumulation_steps"],
        dataloader_drop_last=targs["dataloader_drop_last"],
        dataloader_num_workers=0,
        learning_rate=targs["learning_rate"],
        weight_decay=targs["weight_decay"],
        adam_beta1=targs["adam_beta1"],
        adam_beta2=targs["adam_beta2"],
        adam_epsilon=targs["adam_epsilon"],
        max_grad_norm=targs["max_grad_norm"],
        logging_strategy=strategy[targs["logging_strategy"]],
        logging_steps=targs["logging_steps"],
        eval_strategy=strategy[targs["eval_strategy"]],
        eval_steps=targs["eval_steps"] or targs["logging_steps"],
        save_strategy=strategy[targs["save_strategy"]],
        save_steps=targs["save_steps"],
        save_total_limit=targs["save_total_limit"],
        load_best_model_at_end=targs["load_best_model_at_end"],
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        prediction_loss_only=True,
        seed=targs["seed"],
        use_cpu=True,
        report_to="none",
        disable_tqdm=True,
    )
    if targs["optimizer"] != "adamw" or targs["lr_scheduler_type"] != "one_cycle":
        sys.exit(f"this job is AdamW + one_cycle; the export has {targs['optimizer']} + "
                 f"{targs['lr_scheduler_type']}")
    if targs["gradient_accumulation_steps"] != 1 or targs["finetune_mode"] != "full":
        sys.exit("this job trains the full model without gradient accumulation")
    if targs["loss"] != {"kind": "mse"} or model.config.loss != "mse":
        sys.exit(f"this job trains on MSE; the export has {targs['loss']}, the checkpoint {model.config.loss}")
    if targs["metric_for_best_model"] != "eval_loss":
        sys.exit("this job selects and stops on eval_loss")
    decay = set(Trainer.get_decay_parameter_names(None, model))
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    optimizer = AdamW(
        [{"params": [p for n, p in params if n in decay], "weight_decay": targs["weight_decay"]},
         {"params": [p for n, p in params if n not in decay], "weight_decay": 0.0}],
        lr=targs["learning_rate"], betas=(targs["adam_beta1"], targs["adam_beta2"]),
        eps=targs["adam_epsilon"])
    scheduler = OneCycleLR(
        optimizer, max_lr=targs["learning_rate"], total_steps=max_steps,
        pct_start=targs["one_cycle_pct_start"], anneal_strategy="cos",
        div_factor=targs["one_cycle_div_factor"], final_div_factor=targs["one_cycle_final_div_factor"],
        three_phase=False, cycle_momentum=args.cycle_momentum)
    callbacks = []
    if targs["early_stopping_patience"] is not None:
        callbacks.append(EarlyStoppingCallback(
            early_stopping_patience=targs["early_stopping_patience"],
            early_stopping_threshold=targs["early_stopping_threshold"]))
    trainer = DemoTrainer(model=model, args=training_args, train_dataset=train_ds, eval_dataset=val_ds,
                          optimizers=(optimizer, scheduler), callbacks=callbacks)

    t = time.perf_counter()
    result = trainer.train()
    train_s = time.perf_counter() - t
    state = trainer.state
    steps = state.global_step

    t = time.perf_counter()
    test_loss = None
    if not args.no_test:
        # Early stopping has no business with the test split (it would warn that eval_loss is missing).
        trainer.remove_callback(EarlyStoppingCallback)
        test_loss = trainer.evaluate(test_ds, metric_key_prefix="test")["test_loss"]
    trainer.save_model(os.path.join(args.out_dir, "model"))
    after_s = time.perf_counter() - t

    age = process_age_s()
    wall = age if age is not None else time.perf_counter() - T_SCRIPT
    eval_losses = [e["eval_loss"] for e in state.log_history if "eval_loss" in e]
    rec = dict(
        bench="train_e2e", impl="hf-trainer", model="ttm-demo", threads=args.threads, order=args.order,
        batch=batch, max_steps=max_steps, steps=steps, stopped_early=steps < max_steps,
        wall_s=round(wall, 2), startup_s=None if STARTUP_S is None else round(STARTUP_S, 2),
        import_s=round(import_s, 2), load_s=round(load_s, 3), model_s=round(model_s, 2),
        train_loop_s=round(train_s, 2), after_train_s=round(after_s, 2),
        samples_per_s=round(steps * batch / train_s, 1),
        e2e_samples_per_s=round(steps * batch / wall, 1),
        hf_train_samples_per_second=result.metrics.get("train_samples_per_second"),
        train_loss=round(result.training_loss, 6),
        best_eval_loss=state.best_metric, best_step=None, evaluations=len(eval_losses),
        test_loss=test_loss,
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        loadavg_1m_before=loadavg,
        torch=torch.__version__, transformers=transformers.__version__,
        granite_tsfm=getattr(tsfm_public, "__version__", None),
    )
    if state.best_model_checkpoint:
        rec["best_step"] = int(state.best_model_checkpoint.rstrip("/").rsplit("-", 1)[1])
    print(json.dumps(rec), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
