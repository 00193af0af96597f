//! The transformers port's tensor names (`TimesFm2_5ModelForPrediction`) as an alias of the
//! official ones: renamed, and the port's separate `q_proj`/`k_proj`/`v_proj` fused into the
//! official `qkv_proj` (rows stacked q, k, v, as `torch.chunk(qkv, 3)` splits them).

use crate::checkpoint::{HostTensor, TensorMap};
use crate::forecaster::ModelError;

/// Port name suffix -> official name suffix, inside one transformer layer.
const LAYER_RENAMES: [(&str, &str); 9] = [
    ("self_attn.o_proj.weight", "attn.out.weight"),
    ("self_attn.o_proj.bias", "attn.out.bias"),
    ("self_attn.scaling", "attn.per_dim_scale.per_dim_scale"),
    ("self_attn.q_norm.weight", "attn.query_ln.scale"),
    ("self_attn.k_norm.weight", "attn.key_ln.scale"),
    ("input_layernorm.weight", "pre_attn_ln.scale"),
    ("post_attention_layernorm.weight", "post_attn_ln.scale"),
    ("pre_feedforward_layernorm.weight", "pre_ff_ln.scale"),
    ("post_feedforward_layernorm.weight", "post_ff_ln.scale"),
];

/// Renames of the residual blocks (`input_layer` is the official `hidden_layer`).
fn block_rename(rest: &str) -> String {
    rest.replacen("input_layer.", "hidden_layer.", 1)
}

/// The official name of one port tensor; `None` for the q/k/v projections (fused apart).
fn official_name(name: &str) -> Option<String> {
    if let Some(rest) = name.strip_prefix("model.input_ff_layer.") {
        return Some(format!("tokenizer.{}", block_rename(rest)));
    }
    for head in ["output_projection_point.", "output_projection_quantiles."] {
        if let Some(rest) = name.strip_prefix(head) {
            return Some(format!("{head}{}", block_rename(rest)));
        }
    }
    let rest = name.strip_prefix("model.layers.")?;
    let (index, suffix) = rest.split_once('.')?;
    // The feed-forward layers are `mlp.fc1/fc2` in the port's modules and `mlp.ff0/ff1` in
    // the files its `save_pretrained` writes.
    for (port, official) in [
        ("mlp.fc1.", "ff0."),
        ("mlp.ff0.", "ff0."),
        ("mlp.fc2.", "ff1."),
        ("mlp.ff1.", "ff1."),
    ] {
        if let Some(kind) = suffix.strip_prefix(port) {
            return Some(format!("stacked_xf.{index}.{official}{kind}"));
        }
    }
    let renamed = match suffix {
        s if s.starts_with("self_attn.q_proj.")
            || s.starts_with("self_attn.k_proj.")
            || s.starts_with("self_attn.v_proj.") =>
        {
            return None;
        }
        s => LAYER_RENAMES
            .iter()
            .find(|(port, _)| *port == s)
            .map(|(_, official)| official.to_string())
            .unwrap_or_else(|| s.to_string()),
    };
    Some(format!("stacked_xf.{index}.{renamed}"))
}

/// Every port tensor under its official name, q/k/v fused. Names the port does not have are
/// kept as they are, so the loader reports them as unused.
pub fn port_to_official(tensors: TensorMap, source: &str) -> Result<TensorMap, ModelError> {
    let mut out = TensorMap::new();
    let mut layers = Vec::new();
    for (name, tensor) in &tensors {
        match official_name(name) {
            Some(official) => {
                out.insert(official, tensor.clone());
            }
            None => {
                let index = name["model.layers.".len()..]
                    .split('.')
                    .next()
                    .unwrap_or("")
                    .to_string();
                if !layers.contains(&index) {
                    layers.push(index);
                }
            }
        }
    }
    for index in layers {
        for kind in ["weight", "bias"] {
            let part =
                |p: &str| tensors.get(&format!("model.layers.{index}.self_attn.{p}_proj.{kind}"));
            match (part("q"), part("k"), part("v")) {
                (Some(q), Some(k), Some(v)) => {
                    out.insert(
                        format!("stacked_xf.{index}.attn.qkv_proj.{kind}"),
                        stack_rows(&[q, k, v]),
                    );
                }
                (None, None, None) => {}
                _ => {
                    return Err(ModelError::Checkpoint {
                        path: source.to_string(),
                        message: format!(
                            "layer {index} has some but not all of q_proj/k_proj/v_proj.{kind}"
                        ),
                    });
                }
            }
        }
    }
    Ok(out)
}

/// `torch.cat(parts, dim=0)`.
fn stack_rows(parts: &[&HostTensor]) -> HostTensor {
    let mut shape = parts[0].shape.clone();
    shape[0] = parts.iter().map(|p| p.shape[0]).sum();
    let data = parts.iter().flat_map(|p| p.data.iter().copied()).collect();
    HostTensor::new(shape, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_names_map_to_official_ones() {
        let cases = [
            (
                "model.input_ff_layer.input_layer.weight",
                "tokenizer.hidden_layer.weight",
            ),
            (
                "model.input_ff_layer.residual_layer.bias",
                "tokenizer.residual_layer.bias",
            ),
            (
                "model.layers.3.self_attn.scaling",
                "stacked_xf.3.attn.per_dim_scale.per_dim_scale",
            ),
            ("model.layers.0.mlp.fc2.weight", "stacked_xf.0.ff1.weight"),
            ("model.layers.2.mlp.ff0.weight", "stacked_xf.2.ff0.weight"),
            (
                "model.layers.1.post_feedforward_layernorm.weight",
                "stacked_xf.1.post_ff_ln.scale",
            ),
            (
                "output_projection_quantiles.input_layer.weight",
                "output_projection_quantiles.hidden_layer.weight",
            ),
        ];
        for (port, official) in cases {
            assert_eq!(official_name(port).as_deref(), Some(official), "{port}");
        }
        assert_eq!(
            official_name("model.layers.0.self_attn.k_proj.weight"),
            None
        );
    }

    #[test]
    fn q_k_v_are_fused_in_that_order() {
        let t = |v: f32| HostTensor::new(vec![1, 2], vec![v, v]);
        let mut map = TensorMap::new();
        map.insert("model.layers.0.self_attn.q_proj.weight".into(), t(1.0));
        map.insert("model.layers.0.self_attn.k_proj.weight".into(), t(2.0));
        map.insert("model.layers.0.self_attn.v_proj.weight".into(), t(3.0));
        let out = port_to_official(map.clone(), "x").unwrap();
        let qkv = &out["stacked_xf.0.attn.qkv_proj.weight"];
        assert_eq!(qkv.shape, vec![3, 2]);
        assert_eq!(qkv.data, vec![1.0, 1.0, 2.0, 2.0, 3.0, 3.0]);
        map.remove("model.layers.0.self_attn.v_proj.weight");
        let err = port_to_official(map, "x").unwrap_err().to_string();
        assert_eq!(
            err,
            "x: layer 0 has some but not all of q_proj/k_proj/v_proj.weight"
        );
    }
}
