//! Render a figure to PNG and SVG and write both atomically.

use std::fs;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::style::ensure_font;
use super::{PlotError, PlotFiles};

pub(crate) type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// A figure that can draw itself on any plotters backend.
pub(crate) trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static;
}

/// Draws `fig` at `size` pixels into `dir/{stem}.png` and `dir/{stem}.svg`.
pub(crate) fn render(
    dir: &Path,
    stem: &str,
    size: (u32, u32),
    fig: &impl Figure,
) -> Result<PlotFiles, PlotError> {
    ensure_font();
    let png = dir.join(format!("{stem}.png"));
    let svg = dir.join(format!("{stem}.svg"));
    fs::create_dir_all(dir).map_err(|source| PlotError::Io {
        path: dir.to_path_buf(),
        source,
    })?;

    let (w, h) = size;
    let mut rgb = vec![0u8; (w as usize) * (h as usize) * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        draw_on(&root, fig).map_err(|message| PlotError::Draw {
            path: png.clone(),
            message,
        })?;
    }
    let png_bytes = encode_png(&rgb, size).map_err(|message| PlotError::Encode {
        path: png.clone(),
        message,
    })?;

    let mut svg_text = String::new();
    {
        let root = SVGBackend::with_string(&mut svg_text, size).into_drawing_area();
        draw_on(&root, fig).map_err(|message| PlotError::Draw {
            path: svg.clone(),
            message,
        })?;
    }

    write_atomic(&png, &png_bytes)?;
    write_atomic(&svg, svg_text.as_bytes())?;
    Ok(PlotFiles { png, svg })
}

fn draw_on<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    fig: &impl Figure,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    fig.draw(root).map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

fn encode_png(rgb: &[u8], (w, h): (u32, u32)) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgb).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

/// Atomic and durable (`tsfm_io`), so readers never see a half-written plot.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PlotError> {
    tsfm_io::write_file(path, bytes).map_err(|source| PlotError::Io {
        path: path.to_path_buf(),
        source,
    })
}
