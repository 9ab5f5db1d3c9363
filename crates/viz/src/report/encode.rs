//! Typed arrays as base64 text, the way the page reads them back (`Int16Array`, `Float32Array`,
//! ... over the decoded bytes, little-endian as every browser platform is).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

pub(crate) fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

fn b64_le<T: Copy, const N: usize>(values: &[T], le_bytes: fn(T) -> [u8; N]) -> String {
    b64(&values
        .iter()
        .flat_map(|&v| le_bytes(v))
        .collect::<Vec<u8>>())
}

pub(crate) fn b64_i16(values: &[i16]) -> String {
    b64_le(values, i16::to_le_bytes)
}

pub(crate) fn b64_u16(values: &[u16]) -> String {
    b64_le(values, u16::to_le_bytes)
}

pub(crate) fn b64_i32(values: &[i32]) -> String {
    b64_le(values, i32::to_le_bytes)
}

pub(crate) fn b64_f32(values: &[f32]) -> String {
    b64_le(values, f32::to_le_bytes)
}

/// A unit-vector component in [-1, 1] as `i16` (scale 32767); non-finite values become 0.
pub(crate) fn quantize_unit(x: f32) -> i16 {
    if !x.is_finite() {
        return 0;
    }
    (x.clamp(-1.0, 1.0) * 32767.0).round() as i16
}

/// Rows of `values` (`dim` columns) divided by their length; zero or non-finite rows become
/// zero rows (the page skips them).
pub(crate) fn unit_rows(values: &[f32], dim: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(values.len());
    for row in values.chunks_exact(dim) {
        let norm = row
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt();
        if norm.is_finite() && norm > 1e-12 {
            out.extend(row.iter().map(|&v| (f64::from(v) / norm) as f32));
        } else {
            out.extend(std::iter::repeat_n(0.0, dim));
        }
    }
    out
}

/// An angle in radians as hundredths of a degree (0..=18000), the page's `Uint16Array` form.
pub(crate) fn centidegrees(radians: f64) -> u16 {
    if radians.is_finite() {
        (radians.to_degrees() * 100.0).round().clamp(0.0, 18000.0) as u16
    } else {
        u16::MAX
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_4648_test_vectors() {
        // RFC 4648, section 10.
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(b64(plain.as_bytes()), coded);
        }
    }

    #[test]
    fn typed_arrays_are_little_endian() {
        // 1.0f32 is 0x3f800000; -2i16 is 0xfffe; 258u16 is 0x0102.
        assert_eq!(b64_f32(&[1.0]), b64(&[0x00, 0x00, 0x80, 0x3f]));
        assert_eq!(b64_i16(&[-2]), b64(&[0xfe, 0xff]));
        assert_eq!(b64_u16(&[258]), b64(&[0x02, 0x01]));
        assert_eq!(b64_i32(&[-1]), b64(&[0xff; 4]));
    }

    #[test]
    fn quantised_units_keep_the_direction_to_a_thousandth_of_a_degree() {
        assert_eq!(quantize_unit(1.0), 32767);
        assert_eq!(quantize_unit(-1.0), -32767);
        assert_eq!(quantize_unit(2.0), 32767);
        assert_eq!(quantize_unit(f32::NAN), 0);
        // Direction of 10 degrees, quantised and read back as the page does.
        let a = 10f64.to_radians();
        let (x, y) = (a.cos() as f32, a.sin() as f32);
        let back = f64::from(quantize_unit(y)).atan2(f64::from(quantize_unit(x)));
        assert!((back - a).abs().to_degrees() < 2e-3, "{back}");
    }

    #[test]
    fn rows_are_normalised_and_zero_rows_stay_zero() {
        let u = unit_rows(&[3.0, 4.0, 0.0, 0.0, f32::NAN, 1.0], 2);
        assert_eq!(u, vec![0.6, 0.8, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn centidegrees_of_hand_angles() {
        assert_eq!(centidegrees(std::f64::consts::FRAC_PI_2), 9000);
        assert_eq!(centidegrees(std::f64::consts::PI), 18000);
        assert_eq!(centidegrees(0.5f64.to_radians()), 50);
        assert_eq!(centidegrees(f64::NAN), u16::MAX);
    }
}
