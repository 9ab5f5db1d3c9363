//! The subset of ONNX's `onnx.proto` (github.com/onnx/onnx, `onnx/onnx.proto`, IR version 8)
//! that an exported model uses, as hand-written prost messages with the official field numbers.
//! Fields the exporter never sets are left out: a protobuf reader skips what it does not know,
//! and a writer need not write what it does not use.

/// `TensorProto.DataType.FLOAT`.
pub const DATA_TYPE_FLOAT: i32 = 1;

/// `AttributeProto.AttributeType` values used here.
pub mod attribute_type {
    /// `INT`.
    pub const INT: i32 = 2;
    /// `INTS`.
    pub const INTS: i32 = 7;
}

/// `ModelProto`: the top-level message of a `.onnx` file.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ModelProto {
    #[prost(int64, tag = "1")]
    pub ir_version: i64,
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
    #[prost(string, tag = "2")]
    pub producer_name: String,
    #[prost(string, tag = "3")]
    pub producer_version: String,
    #[prost(string, tag = "4")]
    pub domain: String,
    #[prost(int64, tag = "5")]
    pub model_version: i64,
    #[prost(string, tag = "6")]
    pub doc_string: String,
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
}

/// `OperatorSetIdProto`: an operator set the model uses (`""` = the default ONNX domain).
#[derive(Clone, PartialEq, prost::Message)]
pub struct OperatorSetIdProto {
    #[prost(string, tag = "1")]
    pub domain: String,
    #[prost(int64, tag = "2")]
    pub version: i64,
}

/// `GraphProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    #[prost(string, tag = "10")]
    pub doc_string: String,
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "13")]
    pub value_info: Vec<ValueInfoProto>,
}

/// `NodeProto`: one operator call.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    #[prost(string, tag = "3")]
    pub name: String,
    #[prost(string, tag = "4")]
    pub op_type: String,
    #[prost(string, tag = "7")]
    pub domain: String,
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
    #[prost(string, tag = "6")]
    pub doc_string: String,
}

/// `AttributeProto` (the scalar and list kinds the exporter uses).
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttributeProto {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(int32, tag = "20")]
    pub r#type: i32,
    #[prost(float, tag = "2")]
    pub f: f32,
    #[prost(int64, tag = "3")]
    pub i: i64,
    #[prost(bytes = "vec", tag = "4")]
    pub s: Vec<u8>,
    #[prost(float, repeated, tag = "7")]
    pub floats: Vec<f32>,
    #[prost(int64, repeated, tag = "8")]
    pub ints: Vec<i64>,
}

/// `TensorProto`: a named constant (an initializer).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    pub dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    #[prost(string, tag = "8")]
    pub name: String,
    #[prost(string, tag = "12")]
    pub doc_string: String,
    /// Little-endian values, row-major.
    #[prost(bytes = "vec", tag = "9")]
    pub raw_data: Vec<u8>,
}

/// `ValueInfoProto`: a graph input or output.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ValueInfoProto {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
    #[prost(string, tag = "3")]
    pub doc_string: String,
}

/// `TypeProto`; of its `value` oneof only `tensor_type` (field 1).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TypeProto {
    #[prost(message, optional, tag = "1")]
    pub tensor_type: Option<TypeProtoTensor>,
    #[prost(string, tag = "6")]
    pub denotation: String,
}

/// `TypeProto.Tensor`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TypeProtoTensor {
    #[prost(int32, tag = "1")]
    pub elem_type: i32,
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
}

/// `TensorShapeProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeProto {
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<Dimension>,
}

/// `TensorShapeProto.Dimension`: a size or a symbolic name.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Dimension {
    #[prost(oneof = "DimensionValue", tags = "1, 2")]
    pub value: Option<DimensionValue>,
    #[prost(string, tag = "3")]
    pub denotation: String,
}

/// The `value` oneof of [`Dimension`].
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum DimensionValue {
    #[prost(int64, tag = "1")]
    DimValue(i64),
    #[prost(string, tag = "2")]
    DimParam(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// Bytes worked out by hand from the protobuf wire format (key = field number << 3 | wire
    /// type; 0 varint, 2 length-delimited; proto3 defaults not written).
    #[test]
    fn encodes_small_messages_as_the_wire_format_says() {
        let opset = OperatorSetIdProto {
            domain: "ai".into(),
            version: 17,
        };
        // field 1 string "ai": 0x0a 0x02 'a' 'i'; field 2 varint 17: 0x10 0x11.
        assert_eq!(opset.encode_to_vec(), [0x0a, 0x02, b'a', b'i', 0x10, 0x11]);

        let tensor = TensorProto {
            dims: vec![2, 300],
            data_type: DATA_TYPE_FLOAT,
            name: "w".into(),
            raw_data: vec![0, 0, 0x80, 0x3f],
            ..Default::default()
        };
        // dims packed: 0x0a len 3: 2, 300 = 0xac 0x02; data_type 0x10 0x01; raw_data 0x4a len 4
        // (1.0f32 little-endian); name 0x42 0x01 'w' (prost writes fields by tag order).
        assert_eq!(
            tensor.encode_to_vec(),
            [
                0x0a, 0x03, 0x02, 0xac, 0x02, 0x10, 0x01, 0x42, 0x01, b'w', 0x4a, 0x04, 0, 0, 0x80,
                0x3f
            ]
        );

        let shape = TensorShapeProto {
            dim: vec![
                Dimension {
                    value: Some(DimensionValue::DimParam("N".into())),
                    ..Default::default()
                },
                Dimension {
                    value: Some(DimensionValue::DimValue(3)),
                    ..Default::default()
                },
            ],
        };
        // Two dim entries (field 1, length-delimited): dim_param "N" = 0x12 0x01 'N', and
        // dim_value 3 = 0x08 0x03.
        assert_eq!(
            shape.encode_to_vec(),
            [0x0a, 0x03, 0x12, 0x01, b'N', 0x0a, 0x02, 0x08, 0x03]
        );
        assert_eq!(
            TensorShapeProto::decode(&shape.encode_to_vec()[..]).unwrap(),
            shape
        );
    }
}
