//! A config root in a temporary directory, and error lines with that directory shown as `ROOT`.
#![allow(dead_code)]

use std::path::Path;

use tsfm_config::{ConfigErrors, Override, Resolved, load};

/// A minimal valid experiment: every later test changes one thing in it.
pub const BASE: &str = "\
model:
  model_type: ttm
  model_path: m
data:
  source_name: d
  source: csv
  raw_path: x.csv
  timestamp_column: ts
training:
  max_steps: 10
";

pub struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    pub fn new(files: &[(&str, &str)]) -> Root {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        Root { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn load(&self, file: &str, overrides: &[Override]) -> Result<Resolved, ConfigErrors> {
        load(Some(self.path()), Some(&self.path().join(file)), overrides)
    }

    /// The error lines of a load that must fail, with the root directory shown as `ROOT`.
    pub fn errors(&self, file: &str, overrides: &[Override]) -> Vec<String> {
        match self.load(file, overrides) {
            Ok(_) => panic!("expected {file} to fail"),
            Err(e) => self.lines(&e),
        }
    }

    pub fn lines(&self, e: &ConfigErrors) -> Vec<String> {
        let root = self.path().display().to_string();
        e.to_string()
            .lines()
            .map(|l| l.replace(&root, "ROOT"))
            .collect()
    }
}

/// `--set` overrides from `key=value` strings.
pub fn sets(args: &[&str]) -> Vec<Override> {
    args.iter()
        .map(|a| Override::parse_set(a).unwrap())
        .collect()
}

/// The error lines of BASE with these `--set` overrides.
pub fn base_errors(args: &[&str]) -> Vec<String> {
    Root::new(&[("base.yaml", BASE)]).errors("base.yaml", &sets(args))
}

/// BASE with these `--set` overrides, which must validate.
pub fn base_ok(args: &[&str]) -> Resolved {
    Root::new(&[("base.yaml", BASE)])
        .load("base.yaml", &sets(args))
        .unwrap_or_else(|e| panic!("{e}"))
}
