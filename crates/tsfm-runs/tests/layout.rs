use chrono::NaiveDate;
use tsfm_runs::{
    RunLayout, RunManifest, RunStatus, RunsError, append_run_history, find_run, list_runs,
    read_run_history, sanitize_name,
};

fn at(h: u32, m: u32, s: u32) -> chrono::NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, 27)
        .unwrap()
        .and_hms_opt(h, m, s)
        .unwrap()
}

#[test]
fn sanitize_keeps_safe_names_and_replaces_separators() {
    assert_eq!(
        sanitize_name("experiment", "ttm_demo-v1.2").unwrap(),
        "ttm_demo-v1.2"
    );
    assert_eq!(
        sanitize_name("experiment", "../../etc/passwd")
            .unwrap_err()
            .to_string(),
        "invalid experiment name \"../../etc/passwd\": it starts with '.', which would hide or escape the directory"
    );
    assert_eq!(
        sanitize_name("experiment", "a/../../b").unwrap(),
        "a_.._.._b"
    );
    assert_eq!(
        sanitize_name("experiment", "night run #3").unwrap(),
        "night_run__3"
    );
    assert_eq!(sanitize_name("experiment", r"c:\x").unwrap(), "c__x");
    assert_eq!(
        sanitize_name("experiment", "  ").unwrap_err().to_string(),
        "invalid experiment name \"  \": it is empty"
    );
    assert_eq!(
        sanitize_name("model", "..").unwrap_err().to_string(),
        "invalid model name \"..\": it starts with '.', which would hide or escape the directory"
    );
    assert!(matches!(
        sanitize_name("experiment", "best_model"),
        Err(RunsError::InvalidName { .. })
    ));
}

#[test]
fn a_sanitised_run_dir_stays_under_save_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = RunLayout::new(tmp.path().join("tsfm_results"));
    let run = layout
        .create_run("ttm", "x/../../../escape", at(1, 2, 3))
        .unwrap();
    let canonical_root = tmp.path().join("tsfm_results").canonicalize().unwrap();
    assert!(
        run.path
            .canonicalize()
            .unwrap()
            .starts_with(&canonical_root)
    );
    assert_eq!(run.experiment, "x_.._.._.._escape");
}

#[test]
fn create_run_makes_timestamped_dirs_with_suffix_on_collision() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = RunLayout::new(tmp.path());
    let first = layout.create_run("ttm", "demo", at(13, 5, 9)).unwrap();
    let second = layout.create_run("ttm", "demo", at(13, 5, 9)).unwrap();
    assert_eq!(first.run_id, "2026-11-27_13-05-09");
    assert_eq!(second.run_id, "2026-11-27_13-05-09_2");
    assert_eq!(
        first.path,
        tmp.path().join("models/ttm/demo/2026-11-27_13-05-09")
    );
    for dir in ["model", "logs", "checkpoints"] {
        assert!(first.path.join(dir).is_dir(), "{dir} missing");
    }
}

#[test]
fn best_model_is_a_relative_link_replaced_atomically() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = RunLayout::new(tmp.path());
    let a = layout.create_run("ttm", "demo", at(1, 0, 0)).unwrap();
    let b = layout.create_run("ttm", "demo", at(2, 0, 0)).unwrap();
    assert_eq!(layout.best_model("ttm", "demo").unwrap(), None);
    let link = layout.update_best_model(&a).unwrap();
    assert_eq!(
        std::fs::read_link(&link).unwrap().to_str().unwrap(),
        "2026-11-27_01-00-00"
    );
    layout.update_best_model(&b).unwrap();
    assert_eq!(
        layout.best_model("ttm", "demo").unwrap().as_deref(),
        Some("2026-11-27_02-00-00")
    );
    // Relative: the tree can be moved and the link still resolves.
    let moved = tmp.path().join("moved");
    std::fs::rename(tmp.path().join("models"), &moved).unwrap();
    assert!(moved.join("ttm/demo/best_model/model").is_dir());
    // No temporary link left behind.
    let leftovers: Vec<_> = std::fs::read_dir(moved.join("ttm/demo"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn manifest_has_every_field_and_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let mut manifest = RunManifest::start("2026-11-27_01-00-00", "ttm", "demo", 42);
    assert_eq!(manifest.status, RunStatus::Running);
    assert_eq!(manifest.tsfm_version, env!("CARGO_PKG_VERSION"));
    assert!(!manifest.host.is_empty());
    assert!(manifest.started_at.starts_with("20"));
    manifest.data_fingerprint = Some("abc123".into());
    manifest.finish(None);
    assert_eq!(manifest.status, RunStatus::Completed);
    let path = tmp.path().join("run.json");
    manifest.write(&path).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for key in [
        "run_id",
        "model",
        "experiment",
        "tsfm_version",
        "git_revision",
        "seed",
        "host",
        "started_at",
        "ended_at",
        "status",
        "data_fingerprint",
        "command",
        "error",
    ] {
        assert!(json.get(key).is_some(), "run.json lacks {key}");
    }
    assert_eq!(json["status"], "completed");
    assert_eq!(json["seed"], 42);
    assert_eq!(RunManifest::read(&path).unwrap(), manifest);

    let mut failed = RunManifest::start("r", "ttm", "demo", 1);
    failed.finish(Some("loss is NaN at step 7".into()));
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("loss is NaN at step 7"));
}

#[test]
fn run_history_appends_rows_and_widens_the_header() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("results/ttm/demo/run_history.csv");
    append_run_history(
        &path,
        &[("run_id", "a".into()), ("eval_loss", "0.5".into())],
    )
    .unwrap();
    append_run_history(
        &path,
        &[("run_id", "b,c".into()), ("rmse_60min", "1.25".into())],
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "run_id,eval_loss,rmse_60min\na,0.5,\n\"b,c\",,1.25\n"
    );
    let (header, rows) = read_run_history(&path).unwrap();
    assert_eq!(header, ["run_id", "eval_loss", "rmse_60min"]);
    assert_eq!(rows[1], ["b,c", "", "1.25"]);
}

#[test]
fn run_history_ids_with_commas_quotes_and_newlines_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("run_history.csv");
    let ids = ["plain", "a,b", "say \"hi\"", "two\nlines", ""];
    for id in ids {
        append_run_history(&path, &[("run_id", id.into()), ("note", "x".into())]).unwrap();
    }
    let (header, rows) = read_run_history(&path).unwrap();
    assert_eq!(header, ["run_id", "note"]);
    let read: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(read, ids);
    assert!(rows.iter().all(|r| r[1] == "x"));
    // Only the history and its (empty) lock file are left in the folder: no temporary file.
    let mut names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, [".run_history.csv.lock", "run_history.csv"]);
}

#[test]
fn a_failed_write_keeps_what_was_there_and_names_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    // A non-empty folder where the file should go: the final rename over it fails (as root
    // too, unlike a read-only folder).
    let blocked = tmp.path().join("run.json");
    std::fs::create_dir(&blocked).unwrap();
    std::fs::write(blocked.join("keep"), "x").unwrap();
    let err = tsfm_runs::write_atomic(&blocked, b"{}").unwrap_err();
    assert!(err.to_string().contains("run.json"), "{err}");
    assert_eq!(std::fs::read_to_string(blocked.join("keep")).unwrap(), "x");
    // No count of leftover files here: atomic-write-file keeps its temporary file when the
    // final rename itself fails (it only removes it when the write is abandoned before).
}

#[test]
fn runs_are_listed_filtered_and_found() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = RunLayout::new(tmp.path());
    for (model, experiment, hour) in [
        ("ttm", "demo", 1),
        ("ttm", "demo", 2),
        ("chronos", "demo", 3),
    ] {
        let run = layout
            .create_run(model, experiment, at(hour, 0, 0))
            .unwrap();
        RunManifest::start(&run.run_id, model, experiment, 7)
            .write(&run.manifest_path())
            .unwrap();
        if hour == 2 {
            std::fs::write(run.metrics_path(), r#"{"best_eval_loss": 0.25}"#).unwrap();
            layout.update_best_model(&run).unwrap();
        }
    }
    let all = list_runs(tmp.path(), None, None).unwrap();
    assert_eq!(all.len(), 3);
    let ttm = list_runs(tmp.path(), Some("ttm"), Some("demo")).unwrap();
    assert_eq!(
        ttm.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(),
        ["2026-11-27_01-00-00", "2026-11-27_02-00-00"]
    );
    assert_eq!(
        ttm.iter().map(|r| r.is_best).collect::<Vec<_>>(),
        [false, true]
    );
    assert_eq!(ttm[1].eval_loss, Some(0.25));
    assert_eq!(ttm[0].status, "running");

    let found = find_run(tmp.path(), "ttm/demo/2026-11-27_02-00-00").unwrap();
    assert_eq!(found.run_id, "2026-11-27_02-00-00");
    assert_eq!(
        find_run(tmp.path(), "2026-11-27_03").unwrap().model,
        "chronos"
    );
    let err = find_run(tmp.path(), "2026-11-27").unwrap_err();
    assert!(
        matches!(err, RunsError::AmbiguousRun { count: 3, .. }),
        "{err}"
    );
    for best in ["ttm/demo/best_model", "demo/best_model"] {
        let found = find_run(tmp.path(), best).unwrap_or_else(|e| panic!("{best}: {e}"));
        assert_eq!(found.run_id, "2026-11-27_02-00-00", "{best}");
    }
    // chronos/demo has no best_model yet.
    let err = find_run(tmp.path(), "chronos/demo/best_model").unwrap_err();
    assert!(matches!(err, RunsError::RunNotFound { .. }), "{err}");
    let err = find_run(tmp.path(), "nope").unwrap_err();
    assert!(err.is_user_error());
    assert!(err.to_string().starts_with("no run matches \"nope\" under"));
}

#[test]
fn runs_finishing_together_keep_every_history_row() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("run_history.csv");
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                for i in 0..10 {
                    // Some writers bring a new column: the file is rewritten with a wider header.
                    let extra = format!("col_{}", (t + i) % 3);
                    let row = [
                        ("run_id", format!("{t}-{i}")),
                        (extra.as_str(), "x".to_string()),
                    ];
                    append_run_history(&path, &row).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let (header, rows) = read_run_history(&path).unwrap();
    let mut columns = header.clone();
    columns.sort();
    assert_eq!(columns, ["col_0", "col_1", "col_2", "run_id"]);
    assert_eq!(header[0], "run_id");
    let mut ids: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 80);
}

#[test]
fn runs_started_in_the_same_second_by_many_threads_get_distinct_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = RunLayout::new(tmp.path());
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let layout = layout.clone();
            std::thread::spawn(move || layout.create_run("ttm", "demo", at(3, 4, 5)).unwrap())
        })
        .collect();
    let mut ids: Vec<String> = threads
        .into_iter()
        .map(|t| t.join().unwrap().run_id)
        .collect();
    ids.sort();
    let mut want: Vec<String> = (1..=8)
        .map(|n| match n {
            1 => "2026-11-27_03-04-05".to_string(),
            n => format!("2026-11-27_03-04-05_{n}"),
        })
        .collect();
    want.sort();
    assert_eq!(ids, want);
}

#[cfg(unix)]
#[test]
fn a_link_planted_in_the_results_tree_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let root = tmp.path().join("tsfm_results");
    for planted in ["models", "models/ttm", "models/ttm/demo", "results/ttm"] {
        let _ = std::fs::remove_dir_all(&root);
        let link = root.join(planted);
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        let layout = RunLayout::new(&root);
        let err = if planted.starts_with("results") {
            layout.results_dir("ttm", "demo").unwrap_err()
        } else {
            layout.create_run("ttm", "demo", at(1, 0, 0)).unwrap_err()
        };
        assert_eq!(
            err.to_string(),
            format!(
                "{} is a symbolic link inside the results folder; tsfm writes only into real \
                 folders there, so that nothing lands outside it: remove the link (to keep \
                 results elsewhere, point output.save_dir there instead)",
                link.display()
            )
        );
        assert!(err.is_user_error());
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "{planted}");
    }
    // The results folder itself may be a link: the user chose where results live.
    let _ = std::fs::remove_dir_all(&root);
    std::os::unix::fs::symlink(&outside, &root).unwrap();
    let run = RunLayout::new(&root)
        .create_run("ttm", "demo", at(1, 0, 0))
        .unwrap();
    assert!(outside.join("models/ttm/demo").join(&run.run_id).is_dir());
}
