//! Promoting a run: a complete, checksummed, immutable copy under `production_vN`.
use chrono::NaiveDate;
use tsfm_runs::{
    RunLayout, RunManifest, RunsError, list_productions, list_runs, open_production, promote,
    resolve_production, sanitize_name,
};

fn fake_run(layout: &RunLayout, experiment: &str, second: u32) -> tsfm_runs::RunDir {
    let started = NaiveDate::from_ymd_opt(2026, 12, 1)
        .unwrap()
        .and_hms_opt(10, 0, second)
        .unwrap();
    let run = layout.create_run("ttm", experiment, started).unwrap();
    std::fs::write(
        run.model_dir().join("config.json"),
        b"{\"model_type\":\"ttm\"}",
    )
    .unwrap();
    std::fs::write(run.model_dir().join("model.safetensors"), vec![7u8; 1000]).unwrap();
    std::fs::write(run.model_dir().join("calibration.json"), b"{}").unwrap();
    std::fs::write(run.config_path(), b"model:\n  model_type: ttm\n").unwrap();
    std::fs::write(run.metrics_path(), b"{\"best_eval_loss\": 0.5}").unwrap();
    RunManifest::start(&run.run_id, "ttm", experiment, 1)
        .write(&run.manifest_path())
        .unwrap();
    run
}

#[test]
fn promote_copies_the_run_and_never_replaces_a_version() {
    let tmp = tempfile::tempdir().unwrap();
    let save = tmp.path().join("tsfm_results");
    let layout = RunLayout::new(&save);
    let run = fake_run(&layout, "demo", 1);
    let card = [("MODEL_CARD.md", b"# card\n".to_vec())];

    let v1 = promote(&save, &run, None, &card).unwrap();
    assert_eq!(v1, save.join("models/ttm/production_v1"));
    for file in [
        "model/config.json",
        "model/model.safetensors",
        "model/calibration.json",
        "config.yaml",
        "run.json",
        "metrics.json",
        "MODEL_CARD.md",
        "promotion.json",
        "checksums.json",
    ] {
        assert!(v1.join(file).is_file(), "{file}");
    }
    assert_eq!(
        std::fs::read(v1.join("model/model.safetensors")).unwrap(),
        vec![7u8; 1000]
    );
    // No staging folder is left behind.
    let names: Vec<String> = std::fs::read_dir(save.join("models/ttm"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with(".tmp")), "{names:?}");

    // Again: the next version; an explicit existing one is refused and left as it was.
    let v2 = promote(&save, &run, None, &card).unwrap();
    assert_eq!(v2, save.join("models/ttm/production_v2"));
    let err = promote(&save, &run, Some("production_v1"), &card).unwrap_err();
    assert!(matches!(err, RunsError::AlreadyPromoted { .. }));
    assert!(err.is_user_error());
    assert!(
        err.to_string()
            .ends_with("production_v1 exists: a promoted version is never replaced; leave out --as to promote as the next free version"),
        "{err}"
    );
    let v7 = promote(&save, &run, Some("production_v7"), &card).unwrap();
    assert_eq!(v7, save.join("models/ttm/production_v7"));
    assert_eq!(
        promote(&save, &run, None, &card).unwrap(),
        save.join("models/ttm/production_v8")
    );
    for bad in [
        "production_v0",
        "production_v01",
        "prod_v1",
        "production_vx",
    ] {
        let e = promote(&save, &run, Some(bad), &card).unwrap_err();
        assert!(e.to_string().contains("write it as production_vN"), "{e}");
    }

    // Listed with their source run; not taken for experiments by `list_runs`.
    let listed = list_productions(&save, Some("ttm")).unwrap();
    let versions: Vec<&str> = listed.iter().map(|p| p.version.as_str()).collect();
    assert_eq!(
        versions,
        [
            "production_v1",
            "production_v2",
            "production_v7",
            "production_v8"
        ]
    );
    assert_eq!(
        listed[0].promotion.source_run,
        format!("ttm/demo/{}", run.run_id)
    );
    assert_eq!(list_runs(&save, None, None).unwrap().len(), 1);
    assert!(
        sanitize_name("experiment", "production_v3")
            .unwrap_err()
            .to_string()
            .contains("names the promoted versions")
    );

    // Names resolve; damage is found before use.
    assert_eq!(
        resolve_production(&save, "ttm/production_v2").unwrap(),
        Some(v2.clone())
    );
    assert_eq!(
        resolve_production(&save, "production_v2").unwrap(),
        Some(v2.clone())
    );
    assert_eq!(resolve_production(&save, "production_v3").unwrap(), None);
    assert_eq!(open_production(&v2).unwrap(), v2);
    std::fs::write(v2.join("model/model.safetensors"), vec![7u8; 999]).unwrap();
    let e = open_production(&v2).unwrap_err().to_string();
    assert!(
        e.ends_with("production_v2 is damaged: model/model.safetensors has 999 bytes, 1000 were written (truncated or overwritten); promote the run again"),
        "{e}"
    );
}
