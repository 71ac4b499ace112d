//! QR codes of the `otpauth://` URI: SVG inline in the enrolment response, PNG at its own
//! URL. Rendering is pure; the `qrcode` crate encodes, `png` writes the image.

use qrcode::render::svg;
use qrcode::{Color, EcLevel, QrCode};

/// Pixels per QR module in the PNG.
const PNG_SCALE: usize = 6;
/// Quiet zone around the code, in modules (ISO/IEC 18004 asks for 4).
const QUIET_ZONE: usize = 4;

fn encode(data: &str) -> Result<QrCode, String> {
    QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M).map_err(|e| e.to_string())
}

/// An SVG image of the QR code.
pub fn svg(data: &str) -> Result<String, String> {
    Ok(encode(data)?
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

/// A grayscale PNG of the QR code.
pub fn png(data: &str) -> Result<Vec<u8>, String> {
    let code = encode(data)?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET_ZONE) * PNG_SCALE;
    let mut pixels = vec![255u8; side * side];
    for (index, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let (x, y) = (index % modules + QUIET_ZONE, index / modules + QUIET_ZONE);
        for dy in 0..PNG_SCALE {
            let row = (y * PNG_SCALE + dy) * side;
            for dx in 0..PNG_SCALE {
                pixels[row + x * PNG_SCALE + dx] = 0;
            }
        }
    }
    let mut out = Vec::new();
    let dimension = u32::try_from(side).map_err(|e| e.to_string())?;
    let mut encoder = png::Encoder::new(&mut out, dimension, dimension);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer
        .write_image_data(&pixels)
        .map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_svg_and_a_png_with_the_png_signature() {
        let uri = "otpauth://totp/Deadbolt:ada%40example.com?secret=ABC";
        let image = svg(uri).unwrap();
        assert!(image.contains("<svg"), "{image}");
        let bytes = png(uri).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    }
}
