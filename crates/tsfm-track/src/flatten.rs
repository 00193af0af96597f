//! A nested JSON value as flat `a.b.c` keys, the form MLflow params take.

use serde_json::Value;

/// Every leaf of `value` as (`dotted.key`, text). Lists are one value (`[1, 2]`), as a user
/// would write them with `--set`; null leaves are kept as `null` so an unset key is visible.
pub fn flatten(value: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    walk(value, String::new(), &mut out);
    out
}

fn walk(value: &Value, prefix: String, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                walk(v, key, out);
            }
        }
        Value::String(s) => out.push((prefix, s.clone())),
        other => out.push((prefix, other.to_string())),
    }
}

/// The numeric leaves of `value` (metrics), under `prefix`.
pub fn numbers(value: &Value, prefix: &str) -> Vec<(String, f64)> {
    flatten(value)
        .into_iter()
        .filter_map(|(k, v)| {
            let x: f64 = v.parse().ok()?;
            Some((format!("{prefix}{k}"), x))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_keys_become_dotted_and_lists_stay_whole() {
        let v = serde_json::json!({
            "training": {"learning_rate": 0.0001, "lora": {"rank": 8}},
            "data": {"past_covariates": ["iob", "cob"], "unit": null, "source": "csv"},
            "tags": {}
        });
        assert_eq!(
            flatten(&v),
            [
                ("data.past_covariates", "[\"iob\",\"cob\"]"),
                ("data.source", "csv"),
                ("data.unit", "null"),
                ("tags", "{}"),
                ("training.learning_rate", "0.0001"),
                ("training.lora.rank", "8"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(
            numbers(&v, "x."),
            [
                ("x.training.learning_rate".to_string(), 0.0001),
                ("x.training.lora.rank".to_string(), 8.0)
            ]
        );
    }
}
