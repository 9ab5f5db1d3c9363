//! The ONNX graph of each backbone, layer by layer as its `forward` runs in eval mode.

use anyhow::Result;
use arcface_core::{Backbone, BasicBlock, Downsample, IBasicBlock, IResNet, ResNet, Vgg8};

use crate::onnx::{GraphBuilder, proto::ModelProto};

use super::fold::{channel_affine, conv_bn, linear_bn, prelu_slopes};

/// The eval-mode `backbone` for `[C, H, W]` = `shape` images, as an ONNX model.
pub fn onnx_model(backbone: &Backbone, shape: [usize; 3], doc: String) -> Result<ModelProto> {
    let (mut g, x) = GraphBuilder::new(shape, celeba_data::PIXEL_MEAN, celeba_data::PIXEL_STD);
    let (out, dim) = match backbone {
        Backbone::Vgg8(net) => vgg8(&mut g, net, x)?,
        Backbone::ResNet(net) => resnet(&mut g, net, x)?,
        Backbone::IResNet(net) => iresnet(&mut g, net, x)?,
    };
    Ok(g.finish(&out, dim, doc))
}

/// Blocks of (conv + BN + ReLU) x 2 + max-pool; BatchNorm2d, flatten, linear and BatchNorm1d
/// as one `Gemm`. Returns the output value and the embedding size.
fn vgg8(g: &mut GraphBuilder, net: &Vgg8, mut x: String) -> Result<(String, usize)> {
    for (b, block) in net.blocks.iter().enumerate() {
        let b = b + 1;
        for (c, (conv, bn)) in [(&block.conv1, &block.bn1), (&block.conv2, &block.bn2)]
            .into_iter()
            .enumerate()
        {
            let c = c + 1;
            let y = g.conv(&format!("block{b}.conv{c}"), &x, &conv_bn(conv, bn)?);
            x = g.relu(&format!("block{b}.relu{c}"), &y);
        }
        x = g.max_pool2(&format!("block{b}.pool"), &x);
    }
    let x = g.flatten("flatten", &x);
    let (w, b) = linear_bn(Some(&net.bn_features), &net.embed, &net.bn_embed);
    Ok((g.gemm("embed", &x, &w, &b), b.shape[0]))
}

/// The projection shortcut of a residual block, or its input.
fn shortcut(g: &mut GraphBuilder, name: &str, d: Option<&Downsample>, x: &str) -> Result<String> {
    Ok(match d {
        Some(d) => g.conv(&format!("{name}.downsample"), x, &conv_bn(&d.conv, &d.bn)?),
        None => x.to_string(),
    })
}

/// Stem conv + BN + ReLU, [`BasicBlock`]s, global average pooling, linear + BatchNorm1d.
fn resnet(g: &mut GraphBuilder, net: &ResNet, x: String) -> Result<(String, usize)> {
    let y = g.conv("conv1", &x, &conv_bn(&net.conv1, &net.bn1)?);
    let mut x = g.relu("relu1", &y);
    for (i, block) in net.blocks.iter().enumerate() {
        x = basic_block(g, &format!("blocks.{i}"), block, &x)?;
    }
    let pooled = g.global_average_pool("pool", &x);
    let x = g.flatten("flatten", &pooled);
    let (w, b) = linear_bn(None, &net.embed, &net.bn_embed);
    Ok((g.gemm("embed", &x, &w, &b), b.shape[0]))
}

/// conv + BN + ReLU, conv + BN, plus the shortcut, then ReLU.
fn basic_block(g: &mut GraphBuilder, name: &str, block: &BasicBlock, x: &str) -> Result<String> {
    let skip = shortcut(g, name, block.downsample.as_ref(), x)?;
    let y = g.conv(
        &format!("{name}.conv1"),
        x,
        &conv_bn(&block.conv1, &block.bn1)?,
    );
    let y = g.relu(&format!("{name}.relu1"), &y);
    let y = g.conv(
        &format!("{name}.conv2"),
        &y,
        &conv_bn(&block.conv2, &block.bn2)?,
    );
    let sum = g.add(&format!("{name}.add"), &y, &skip);
    Ok(g.relu(&format!("{name}.relu2"), &sum))
}

/// Stem conv + BN + PReLU, [`IBasicBlock`]s, then BatchNorm2d, flatten, fc and BatchNorm1d as
/// one `Gemm`.
fn iresnet(g: &mut GraphBuilder, net: &IResNet, x: String) -> Result<(String, usize)> {
    let y = g.conv("conv1", &x, &conv_bn(&net.conv1, &net.bn1)?);
    let channels = net.bn1.gamma.dims()[0];
    let mut x = g.prelu("prelu", &y, &prelu_slopes(&net.prelu, channels));
    for (i, block) in net.blocks.iter().enumerate() {
        x = ibasic_block(g, &format!("blocks.{i}"), block, &x)?;
    }
    let x = g.flatten("flatten", &x);
    let (w, b) = linear_bn(Some(&net.bn2), &net.fc, &net.features);
    Ok((g.gemm("fc", &x, &w, &b), b.shape[0]))
}

/// BN, conv + BN + PReLU, conv + BN, plus the shortcut. The first batch norm stays a node of
/// its own: the convolution after it pads with zeros, which folding would turn into its shift.
fn ibasic_block(g: &mut GraphBuilder, name: &str, block: &IBasicBlock, x: &str) -> Result<String> {
    let skip = shortcut(g, name, block.downsample.as_ref(), x)?;
    let (scale, shift) = channel_affine(&block.bn1);
    let y = g.channel_affine(&format!("{name}.bn1"), x, &scale, &shift);
    let y = g.conv(
        &format!("{name}.conv1"),
        &y,
        &conv_bn(&block.conv1, &block.bn2)?,
    );
    let channels = block.bn2.gamma.dims()[0];
    let y = g.prelu(
        &format!("{name}.prelu"),
        &y,
        &prelu_slopes(&block.prelu, channels),
    );
    let y = g.conv(
        &format!("{name}.conv2"),
        &y,
        &conv_bn(&block.conv2, &block.bn3)?,
    );
    Ok(g.add(&format!("{name}.add"), &y, &skip))
}
