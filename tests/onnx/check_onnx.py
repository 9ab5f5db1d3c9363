"""Checks an exported model.onnx against a run's embedding snapshot.

usage: check_onnx.py MODEL INPUT_NPY EXPECTED_NPY

onnx.checker.check_model on the file, then onnxruntime (CPU) on the input, on the whole batch
and on one image (the batch dimension is dynamic); compared with the expected embeddings within
1e-4 of the largest expected magnitude. Prints the differences; exits 1 when they are too big.
"""

import sys

import numpy as np
import onnx
import onnxruntime as ort

model_path, input_path, expected_path = sys.argv[1:4]
model = onnx.load(model_path)
onnx.checker.check_model(model, full_check=True)
assert model.opset_import[0].version == 17, model.opset_import
assert [i.name for i in model.graph.input] == ["images"]
assert [o.name for o in model.graph.output] == ["embeddings"]
assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"

images = np.load(input_path).astype(np.float32)
expected = np.load(expected_path).astype(np.float32)
session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
got = session.run(["embeddings"], {"images": images})[0]
one = session.run(["embeddings"], {"images": images[:1]})[0]
assert got.shape == expected.shape, (got.shape, expected.shape)
assert one.shape == (1, expected.shape[1]), one.shape

scale = float(np.abs(expected).max())
diff = float(np.abs(got - expected).max())
diff_one = float(np.abs(one[0] - expected[0]).max())
print(f"onnx vs snapshot: {got.shape[0]} images, max abs diff {diff:.3e}, "
      f"max |expected| {scale:.3e}, relative {diff / scale:.3e}; batch of 1: {diff_one:.3e}")
if diff > 1e-4 * scale or diff_one > 1e-4 * scale:
    print("FAIL: more than 1e-4 relative")
    sys.exit(1)
print("OK")
