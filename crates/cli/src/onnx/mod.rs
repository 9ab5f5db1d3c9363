//! The ONNX graph of an exported embedding network, written with the hand-written protobuf
//! messages of [`proto`]. No Burn here: the weights come in as plain arrays, already folded
//! (batch norm into the convolutions and the embedding layer) by the caller.

pub mod proto;

use prost::Message;
use proto::{
    AttributeProto, Dimension, DimensionValue, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto,
    attribute_type,
};

/// The ONNX operator set the graph is written against.
pub const OPSET: i64 = 17;
/// The IR version matching opset 17 (ONNX 1.12).
pub const IR_VERSION: i64 = 8;
/// Name of the graph input: float32 `[N, C, H, W]` pixels in `[0, 1]`.
pub const INPUT: &str = "images";
/// Name of the graph output: float32 `[N, D]` embeddings.
pub const OUTPUT: &str = "embeddings";

/// A float32 tensor: shape and row-major values.
#[derive(Debug, Clone)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// A 3x3 convolution (padding 1, stride 1) followed by ReLU, batch norm folded in.
#[derive(Debug, Clone)]
pub struct ConvRelu {
    /// `[out, in, 3, 3]`.
    pub weight: Array,
    /// `[out]`.
    pub bias: Array,
}

/// The eval-mode network: `(x - mean) / std`, the VGG blocks (each `convs` then a 2x2 max-pool
/// of stride 2), flatten, one affine layer (`x W + b`, `W` `[features, dim]`).
#[derive(Debug, Clone)]
pub struct EmbeddingGraph {
    /// `[channels, height, width]` of the input.
    pub input_shape: [usize; 3],
    pub pixel_mean: f32,
    pub pixel_std: f32,
    pub blocks: Vec<Vec<ConvRelu>>,
    /// `[features, dim]`.
    pub embed_weight: Array,
    /// `[dim]`.
    pub embed_bias: Array,
    /// Free text stored as the model's doc_string.
    pub doc: String,
}

fn tensor(name: &str, a: &Array) -> TensorProto {
    TensorProto {
        dims: a.shape.iter().map(|&d| d as i64).collect(),
        data_type: proto::DATA_TYPE_FLOAT,
        name: name.to_string(),
        raw_data: a.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: attribute_type::INTS,
        ints: values.to_vec(),
        ..Default::default()
    }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: attribute_type::INT,
        i: value,
        ..Default::default()
    }
}

fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    output: &str,
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.to_string()],
        name: name.to_string(),
        op_type: op.to_string(),
        attribute: attrs,
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[Option<usize>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(v) => DimensionValue::DimValue(*v as i64),
                None => DimensionValue::DimParam("N".to_string()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.to_string(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: proto::DATA_TYPE_FLOAT,
                shape: Some(TensorShapeProto { dim }),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl EmbeddingGraph {
    /// The model as a `ModelProto`.
    pub fn to_model(&self) -> ModelProto {
        let mut nodes = Vec::new();
        let mut inits = vec![
            tensor(
                "pixel_mean",
                &Array {
                    shape: vec![],
                    data: vec![self.pixel_mean],
                },
            ),
            tensor(
                "pixel_std",
                &Array {
                    shape: vec![],
                    data: vec![self.pixel_std],
                },
            ),
        ];
        nodes.push(node(
            "Sub",
            "normalise_sub",
            &[INPUT, "pixel_mean"],
            "centred",
            vec![],
        ));
        nodes.push(node(
            "Div",
            "normalise_div",
            &["centred", "pixel_std"],
            "x0",
            vec![],
        ));
        let mut x = "x0".to_string();
        for (b, block) in self.blocks.iter().enumerate() {
            let b = b + 1;
            for (c, conv) in block.iter().enumerate() {
                let c = c + 1;
                let (w, bias) = (
                    format!("block{b}.conv{c}.weight"),
                    format!("block{b}.conv{c}.bias"),
                );
                inits.push(tensor(&w, &conv.weight));
                inits.push(tensor(&bias, &conv.bias));
                let k = [conv.weight.shape[2] as i64, conv.weight.shape[3] as i64];
                let out = format!("block{b}.conv{c}");
                nodes.push(node(
                    "Conv",
                    &out,
                    &[x.as_str(), w.as_str(), bias.as_str()],
                    &out,
                    vec![
                        ints("kernel_shape", &k),
                        ints("pads", &[1, 1, 1, 1]),
                        ints("strides", &[1, 1]),
                        ints("dilations", &[1, 1]),
                        int("group", 1),
                    ],
                ));
                let relu = format!("block{b}.relu{c}");
                nodes.push(node("Relu", &relu, &[out.as_str()], &relu, vec![]));
                x = relu;
            }
            let pool = format!("block{b}.pool");
            nodes.push(node(
                "MaxPool",
                &pool,
                &[x.as_str()],
                &pool,
                vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])],
            ));
            x = pool;
        }
        nodes.push(node(
            "Flatten",
            "flatten",
            &[x.as_str()],
            "features",
            vec![int("axis", 1)],
        ));
        inits.push(tensor("embed.weight", &self.embed_weight));
        inits.push(tensor("embed.bias", &self.embed_bias));
        nodes.push(node(
            "Gemm",
            "embed",
            &["features", "embed.weight", "embed.bias"],
            OUTPUT,
            vec![],
        ));

        let [c, h, w] = self.input_shape;
        let dim = self.embed_bias.shape[0];
        ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            }],
            producer_name: "arcface-lab".to_string(),
            producer_version: env!("CARGO_PKG_VERSION").to_string(),
            doc_string: self.doc.clone(),
            graph: Some(GraphProto {
                node: nodes,
                name: "arcface_lab_embedding".to_string(),
                initializer: inits,
                input: vec![value_info(INPUT, &[None, Some(c), Some(h), Some(w)])],
                output: vec![value_info(OUTPUT, &[None, Some(dim)])],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// The serialised `.onnx` bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_model().encode_to_vec()
    }
}
