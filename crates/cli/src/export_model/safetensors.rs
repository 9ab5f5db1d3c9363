//! The backbone's tensors under PyTorch-style names, in a safetensors file (see README,
//! "Exporting the model").

use anyhow::{Context, Result};
use arcface_core::Backbone;
use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;

use super::fold::values;

/// One tensor: PyTorch-style name, shape, row-major values.
type Named = (String, Vec<usize>, Vec<f32>);

/// Collects every float tensor of a module with its path (`blocks.0.conv1.weight`), renamed
/// and laid out as PyTorch names and lays out the same layer.
struct Collect<'a> {
    /// The path so far and, for each entry, the type of the struct that holds it.
    path: Vec<(String, String)>,
    rename: &'a dyn Fn(&[String]) -> Vec<String>,
    out: Vec<Named>,
}

impl ModuleVisitor for Collect<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path
            .push((name.to_string(), container_type.to_string()));
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some((leaf, holder)) = self.path.last() else {
            return;
        };
        let tensor = param.val();
        let mut shape = tensor.dims().to_vec();
        let mut data = values(tensor);
        let leaf = match (holder.as_str(), leaf.as_str()) {
            ("Struct:BatchNorm", "gamma") | ("Struct:PRelu", "alpha") => "weight",
            ("Struct:BatchNorm", "beta") => "bias",
            ("Struct:Linear", "weight") => {
                // PyTorch's nn.Linear stores [out, in]; Burn stores [in, out].
                let (rows, cols) = (shape[0], shape[1]);
                data = (0..rows * cols)
                    .map(|k| data[(k % rows) * cols + k / rows])
                    .collect();
                shape = vec![cols, rows];
                "weight"
            }
            (_, leaf) => leaf,
        };
        let mut names: Vec<String> = self.path.iter().map(|(n, _)| n.clone()).collect();
        if let Some(last) = names.last_mut() {
            *last = leaf.to_string();
        }
        let name = (self.rename)(&names).join(".");
        self.out.push((format!("backbone.{name}"), shape, data));
    }
}

/// VGG8's names as earlier versions wrote them: `blocks.0` is `block1`.
fn vgg8_names(path: &[String]) -> Vec<String> {
    match path {
        [blocks, i, rest @ ..] if blocks == "blocks" => {
            let k = i.parse::<usize>().map_or(0, |i| i + 1);
            std::iter::once(format!("block{k}"))
                .chain(rest.iter().cloned())
                .collect()
        }
        _ => path.to_vec(),
    }
}

/// The residual networks' names as torchvision's ResNet and insightface's iResNet spell them:
/// block `i` is `layer{i / 2 + 1}.{i % 2}` (two blocks a stage), the shortcut's conv and batch
/// norm are `downsample.0` and `downsample.1`.
fn resnet_names(path: &[String]) -> Vec<String> {
    match path {
        [blocks, i, rest @ ..] if blocks == "blocks" => {
            let i = i.parse::<usize>().unwrap_or(0);
            let mut out = vec![format!("layer{}", i / 2 + 1), (i % 2).to_string()];
            for part in rest {
                out.push(match (out.last().map(String::as_str), part.as_str()) {
                    (Some("downsample"), "conv") => "0".to_string(),
                    (Some("downsample"), "bn") => "1".to_string(),
                    _ => part.clone(),
                });
            }
            out
        }
        _ => path.to_vec(),
    }
}

/// The backbone's tensors under their exported names, in the order the module holds them.
pub fn named_tensors(backbone: &Backbone) -> Vec<Named> {
    let rename: &dyn Fn(&[String]) -> Vec<String> = match backbone {
        Backbone::Vgg8(_) => &vgg8_names,
        Backbone::ResNet(_) | Backbone::IResNet(_) => &resnet_names,
    };
    let mut collect = Collect {
        path: Vec::new(),
        rename,
        out: Vec::new(),
    };
    backbone.visit(&mut collect);
    collect.out
}

/// The safetensors file (huggingface.co/docs/safetensors): an 8-byte little-endian header
/// length, the JSON header (name -> dtype, shape, data_offsets; padded with spaces to a multiple
/// of 8), then the tensors' little-endian bytes in header order. Written here rather than with
/// the `safetensors` crate, whose dependencies' features would rebuild Burn's GPU stack.
pub fn safetensors_bytes(backbone: &Backbone) -> Result<Vec<u8>> {
    let tensors = named_tensors(backbone);
    let mut header = serde_json::Map::new();
    header.insert(
        "__metadata__".into(),
        serde_json::json!({ "format": "pt", "producer": "arcface-lab" }),
    );
    let mut offset = 0usize;
    for (name, shape, data) in &tensors {
        let end = offset + 4 * data.len();
        header.insert(
            name.clone(),
            serde_json::json!({ "dtype": "F32", "shape": shape, "data_offsets": [offset, end] }),
        );
        offset = end;
    }
    let mut json =
        serde_json::to_vec(&header).context("cannot serialise the safetensors header")?;
    while json.len() % 8 != 0 {
        json.push(b' ');
    }
    let mut bytes = Vec::with_capacity(8 + json.len() + offset);
    bytes.extend((json.len() as u64).to_le_bytes());
    bytes.extend(json);
    for (_, _, data) in &tensors {
        bytes.extend(data.iter().flat_map(|v| v.to_le_bytes()));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> Vec<String> {
        s.split('.').map(String::from).collect()
    }

    #[test]
    fn names_follow_torchvision_and_insightface() {
        assert_eq!(
            resnet_names(&path("blocks.3.downsample.conv.weight")).join("."),
            "layer2.1.downsample.0.weight"
        );
        assert_eq!(
            resnet_names(&path("blocks.6.bn1.running_var")).join("."),
            "layer4.0.bn1.running_var"
        );
        assert_eq!(resnet_names(&path("fc.weight")).join("."), "fc.weight");
        assert_eq!(
            vgg8_names(&path("blocks.2.conv1.bias")).join("."),
            "block3.conv1.bias"
        );
    }
}
