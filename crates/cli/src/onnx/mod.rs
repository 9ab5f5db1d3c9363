//! The ONNX graph of an exported embedding network, written with the hand-written protobuf
//! messages of [`proto`]. No Burn here: the weights come in as plain arrays, already folded
//! (batch norm into the convolutions and the embedding layer where it can be) by the caller,
//! which walks its backbone and adds one node per layer with [`GraphBuilder`].

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

/// A 2-D convolution with a bias (a following batch norm already folded in by the caller).
#[derive(Debug, Clone)]
pub struct Conv {
    /// `[out, in, kh, kw]`.
    pub weight: Array,
    /// `[out]`.
    pub bias: Array,
    /// `[vertical, horizontal]`.
    pub stride: [usize; 2],
    /// `[top, left, bottom, right]`, ONNX's `pads` order.
    pub pads: [usize; 4],
}

/// Builds an embedding network's graph one node at a time: each method adds a node (and the
/// initializers it needs), named `name`, and returns the name of its output, so that a residual
/// block can feed one value to two nodes. [`GraphBuilder::finish`] names the last value the
/// graph's output.
#[derive(Debug)]
pub struct GraphBuilder {
    input_shape: [usize; 3],
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
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

impl GraphBuilder {
    /// A graph taking float32 `[N, C, H, W]` pixels in `[0, 1]` (`input_shape` = `[C, H, W]`),
    /// whose first nodes compute `(x - pixel_mean) / pixel_std`; the second value returned is
    /// the name of that normalised input.
    pub fn new(input_shape: [usize; 3], pixel_mean: f32, pixel_std: f32) -> (Self, String) {
        let scalar = |v: f32| Array {
            shape: vec![],
            data: vec![v],
        };
        let mut graph = Self {
            input_shape,
            nodes: Vec::new(),
            inits: vec![
                tensor("pixel_mean", &scalar(pixel_mean)),
                tensor("pixel_std", &scalar(pixel_std)),
            ],
        };
        graph.push("Sub", "normalise_sub", &[INPUT, "pixel_mean"], vec![]);
        let x = graph.push("Div", "x0", &["normalise_sub", "pixel_std"], vec![]);
        (graph, x)
    }

    /// Adds a node named `name` whose output value is also called `name`.
    fn push(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        attrs: Vec<AttributeProto>,
    ) -> String {
        self.nodes.push(node(op, name, inputs, name, attrs));
        name.to_string()
    }

    /// An initializer `name` holding `a`; returns its name.
    fn constant(&mut self, name: String, a: &Array) -> String {
        self.inits.push(tensor(&name, a));
        name
    }

    /// `x` convolved with `conv`.
    pub fn conv(&mut self, name: &str, x: &str, conv: &Conv) -> String {
        let w = self.constant(format!("{name}.weight"), &conv.weight);
        let b = self.constant(format!("{name}.bias"), &conv.bias);
        let kernel = [conv.weight.shape[2] as i64, conv.weight.shape[3] as i64];
        let pads = conv.pads.map(|p| p as i64);
        let strides = conv.stride.map(|s| s as i64);
        self.push(
            "Conv",
            name,
            &[x, &w, &b],
            vec![
                ints("kernel_shape", &kernel),
                ints("pads", &pads),
                ints("strides", &strides),
                ints("dilations", &[1, 1]),
                int("group", 1),
            ],
        )
    }

    /// `max(x, 0)`.
    pub fn relu(&mut self, name: &str, x: &str) -> String {
        self.push("Relu", name, &[x], vec![])
    }

    /// PReLU of `[N, C, H, W]` features with one slope per channel.
    pub fn prelu(&mut self, name: &str, x: &str, slopes: &[f32]) -> String {
        let slope = self.constant(format!("{name}.slope"), &per_channel(slopes));
        self.push("PRelu", name, &[x, &slope], vec![])
    }

    /// `x * scale + shift` per channel of `[N, C, H, W]` features: an eval-mode batch norm that
    /// cannot be folded into a convolution (it comes before one that pads with zeros).
    pub fn channel_affine(&mut self, name: &str, x: &str, scale: &[f32], shift: &[f32]) -> String {
        let s = self.constant(format!("{name}.scale"), &per_channel(scale));
        let t = self.constant(format!("{name}.shift"), &per_channel(shift));
        let scaled = self.push("Mul", &format!("{name}.mul"), &[x, &s], vec![]);
        self.push("Add", name, &[&scaled, &t], vec![])
    }

    /// `a + b`.
    pub fn add(&mut self, name: &str, a: &str, b: &str) -> String {
        self.push("Add", name, &[a, b], vec![])
    }

    /// A 2x2 max-pool of stride 2.
    pub fn max_pool2(&mut self, name: &str, x: &str) -> String {
        self.push(
            "MaxPool",
            name,
            &[x],
            vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])],
        )
    }

    /// The mean over each channel's `H x W`: `[N, C, 1, 1]`.
    pub fn global_average_pool(&mut self, name: &str, x: &str) -> String {
        self.push("GlobalAveragePool", name, &[x], vec![])
    }

    /// `[N, ...]` to `[N, features]`, row-major.
    pub fn flatten(&mut self, name: &str, x: &str) -> String {
        self.push("Flatten", name, &[x], vec![int("axis", 1)])
    }

    /// `x W + b` with `weight` `[features, dim]` and `bias` `[dim]`.
    pub fn gemm(&mut self, name: &str, x: &str, weight: &Array, bias: &Array) -> String {
        let w = self.constant(format!("{name}.weight"), weight);
        let b = self.constant(format!("{name}.bias"), bias);
        self.push("Gemm", name, &[x, &w, &b], vec![])
    }

    /// The model whose output [`OUTPUT`] (float32 `[N, dim]`) is the value `last`; `doc` is
    /// stored as the model's doc_string.
    pub fn finish(mut self, last: &str, dim: usize, doc: String) -> ModelProto {
        self.push("Identity", OUTPUT, &[last], vec![]);
        let [c, h, w] = self.input_shape;
        ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            }],
            producer_name: "arcface-lab".to_string(),
            producer_version: env!("CARGO_PKG_VERSION").to_string(),
            doc_string: doc,
            graph: Some(GraphProto {
                node: self.nodes,
                name: "arcface_lab_embedding".to_string(),
                initializer: self.inits,
                input: vec![value_info(INPUT, &[None, Some(c), Some(h), Some(w)])],
                output: vec![value_info(OUTPUT, &[None, Some(dim)])],
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// `[C]` values as `[C, 1, 1]`, which broadcasts against `[N, C, H, W]`.
fn per_channel(values: &[f32]) -> Array {
    Array {
        shape: vec![values.len(), 1, 1],
        data: values.to_vec(),
    }
}

/// The serialised `.onnx` bytes of `model`.
pub fn to_bytes(model: &ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}
