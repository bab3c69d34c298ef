//! Small hand-written SVG charts for `recs fairness` and `recs report`: line charts, grouped
//! bar charts and gap (dot + interval) charts.
//!
//! Hand-written rather than `plotters`: plotters' SVG backend needs a font backend (`ttf`, which
//! pulls font-kit and the system's fontconfig, or `ab_glyph` with a bundled font file) to lay
//! out axis labels, while these charts only need `<text>` elements the viewer renders. Each
//! function returns one standalone `<svg>` element, usable as a file or inline in HTML.

use std::fmt::Write as _;

const W: f64 = 640.0;
const H: f64 = 400.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 52.0;

/// Colour-blind-friendly palette (Okabe-Ito).
const COLORS: [&str; 8] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
];

/// The colour of series `i`.
pub(crate) fn color(i: usize) -> &'static str {
    COLORS[i % COLORS.len()]
}

/// Escapes text for XML content and attributes.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One named line.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) points: Vec<(f64, f64)>,
}

/// Options of [`line_chart`].
#[derive(Debug, Clone, Default)]
pub(crate) struct LineOpts {
    /// Fixed x range (else from the data).
    pub(crate) x: Option<(f64, f64)>,
    /// Fixed y range (else from the data, from 0 when all values are >= 0).
    pub(crate) y: Option<(f64, f64)>,
    /// Draw the y = x diagonal (Lorenz curves).
    pub(crate) diagonal: bool,
    /// Draw a marker at each point.
    pub(crate) markers: bool,
}

/// About five round tick values covering `[lo, hi]`.
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = (hi - lo).abs().max(1e-12);
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= 6.0)
        .unwrap_or(10.0 * mag);
    let first = (lo / step - 1e-9).ceil() as i64;
    let mut out = Vec::new();
    for i in first.. {
        let t = i as f64 * step;
        if t > hi + step * 1e-9 || out.len() >= 20 {
            break;
        }
        out.push(t);
    }
    out
}

fn fmt_tick(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

fn finite_range(vals: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in vals.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    (lo <= hi).then_some((lo, hi))
}

fn widen((lo, hi): (f64, f64)) -> (f64, f64) {
    if hi - lo > 1e-12 {
        (lo, hi)
    } else {
        let d = if lo.abs() > 1e-12 {
            lo.abs() * 0.1
        } else {
            1.0
        };
        (lo - d, hi + d)
    }
}

/// The frame: background, title, axes with ticks and labels; returns the SVG so far and the
/// data→pixel maps.
struct Frame {
    svg: String,
    x: (f64, f64),
    y: (f64, f64),
}

impl Frame {
    fn new(
        title: &str,
        x_label: &str,
        y_label: &str,
        x: (f64, f64),
        y: (f64, f64),
        x_ticks: bool,
    ) -> Frame {
        let mut svg = String::new();
        let _ = write!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
        );
        let _ = write!(
            svg,
            r##"<rect width="{W}" height="{H}" fill="#ffffff"/><text x="{}" y="22" font-size="15" text-anchor="middle">{}</text>"##,
            (LEFT + W - RIGHT) / 2.0,
            esc(title)
        );
        let f = Frame { svg, x, y };
        f.axes(x_label, y_label, x_ticks)
    }

    fn px(&self, v: f64) -> f64 {
        LEFT + (v - self.x.0) / (self.x.1 - self.x.0) * (W - LEFT - RIGHT)
    }

    fn py(&self, v: f64) -> f64 {
        H - BOTTOM - (v - self.y.0) / (self.y.1 - self.y.0) * (H - TOP - BOTTOM)
    }

    fn axes(mut self, x_label: &str, y_label: &str, x_ticks: bool) -> Frame {
        let (x0, x1, y0, y1) = (LEFT, W - RIGHT, TOP, H - BOTTOM);
        for t in ticks(self.y.0, self.y.1) {
            let y = self.py(t);
            let _ = write!(
                self.svg,
                r##"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#e5e5e5"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                x0 - 6.0,
                y + 4.0,
                fmt_tick(t)
            );
        }
        let x_ticks = if x_ticks {
            ticks(self.x.0, self.x.1)
        } else {
            Vec::new()
        };
        for t in x_ticks {
            let x = self.px(t);
            let _ = write!(
                self.svg,
                r##"<line x1="{x:.1}" y1="{y1}" x2="{x:.1}" y2="{}" stroke="#444"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##,
                y1 + 5.0,
                y1 + 18.0,
                fmt_tick(t)
            );
        }
        let _ = write!(
            self.svg,
            r##"<polyline points="{x0},{y0} {x0},{y1} {x1},{y1}" fill="none" stroke="#444"/><text x="{}" y="{}" text-anchor="middle">{}</text><text transform="translate(16,{}) rotate(-90)" text-anchor="middle">{}</text>"##,
            (x0 + x1) / 2.0,
            H - 12.0,
            esc(x_label),
            (y0 + y1) / 2.0,
            esc(y_label)
        );
        self
    }

    fn legend(&mut self, names: &[String]) {
        for (i, n) in names.iter().enumerate() {
            let y = TOP + 8.0 + 18.0 * i as f64;
            let x = W - RIGHT + 14.0;
            let _ = write!(
                self.svg,
                r#"<rect x="{x}" y="{}" width="14" height="4" fill="{}"/><text x="{}" y="{}">{}</text>"#,
                y - 2.0,
                color(i),
                x + 20.0,
                y + 4.0,
                esc(n)
            );
        }
    }

    fn finish(mut self) -> String {
        self.svg.push_str("</svg>");
        self.svg
    }
}

/// A line chart of several series.
pub(crate) fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    opts: &LineOpts,
) -> String {
    let all = || series.iter().flat_map(|s| s.points.iter());
    let x = opts
        .x
        .or_else(|| finite_range(all().map(|p| p.0)))
        .unwrap_or((0.0, 1.0));
    let y = opts
        .y
        .or_else(|| {
            finite_range(all().map(|p| p.1)).map(|(lo, hi)| {
                let lo = if lo >= 0.0 { 0.0 } else { lo };
                (lo, hi + (hi - lo).abs() * 0.05)
            })
        })
        .unwrap_or((0.0, 1.0));
    let mut f = Frame::new(title, x_label, y_label, widen(x), widen(y), true);
    if opts.diagonal {
        let _ = write!(
            f.svg,
            r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#999" stroke-dasharray="4 3"/>"##,
            f.px(f.x.0),
            f.py(f.y.0),
            f.px(f.x.1),
            f.py(f.y.1)
        );
    }
    for (i, s) in series.iter().enumerate() {
        let pts: Vec<String> = s
            .points
            .iter()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .map(|&(a, b)| format!("{:.1},{:.1}", f.px(a), f.py(b)))
            .collect();
        let _ = write!(
            f.svg,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"><title>{}</title></polyline>"#,
            pts.join(" "),
            color(i),
            esc(&s.name)
        );
        if opts.markers {
            for p in &pts {
                if let Some((a, b)) = p.split_once(',') {
                    let _ = write!(
                        f.svg,
                        r#"<circle cx="{a}" cy="{b}" r="3" fill="{}"/>"#,
                        color(i)
                    );
                }
            }
        }
    }
    let names: Vec<String> = series.iter().map(|s| s.name.clone()).collect();
    f.legend(&names);
    f.finish()
}

/// A grouped bar chart: one group of bars per category, one bar per series.
pub(crate) fn bar_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    categories: &[String],
    series: &[(String, Vec<f64>)],
) -> String {
    let hi = finite_range(series.iter().flat_map(|s| s.1.iter().copied()))
        .map_or(1.0, |(_, hi)| hi.max(0.0) * 1.05);
    let n = categories.len().max(1) as f64;
    // category names replace the numeric x ticks
    let mut f = Frame::new(title, x_label, y_label, (0.0, n), widen((0.0, hi)), false);
    let group_w = (W - LEFT - RIGHT) / n;
    let bar_w = group_w * 0.8 / series.len().max(1) as f64;
    let every = (categories.len() / 12).max(1);
    for (c, name) in categories.iter().enumerate() {
        let gx = LEFT + group_w * c as f64 + group_w * 0.1;
        for (s, (sname, vals)) in series.iter().enumerate() {
            let v = vals.get(c).copied().unwrap_or(0.0);
            if !v.is_finite() {
                continue;
            }
            let (y, y0) = (f.py(v.max(0.0)), f.py(0.0));
            let _ = write!(
                f.svg,
                r#"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {}</title></rect>"#,
                gx + bar_w * s as f64,
                bar_w.max(1.0),
                (y0 - y).max(0.0),
                color(s),
                esc(sname),
                fmt_tick(v)
            );
        }
        if c % every == 0 {
            let _ = write!(
                f.svg,
                r#"<text x="{:.1}" y="{}" text-anchor="middle" font-size="10">{}</text>"#,
                gx + group_w * 0.4,
                H - BOTTOM + 16.0,
                esc(name)
            );
        }
    }
    let names: Vec<String> = series.iter().map(|s| s.0.clone()).collect();
    f.legend(&names);
    f.finish()
}

/// One row of a [`gap_chart`]: a label, a value and its interval.
#[derive(Debug, Clone)]
pub(crate) struct GapRow {
    pub(crate) label: String,
    pub(crate) series: usize,
    pub(crate) value: f64,
    pub(crate) ci: Option<[f64; 2]>,
}

/// Horizontal dot-and-whisker chart of gaps around a zero line, one row per entry; `series`
/// names the colours.
pub(crate) fn gap_chart(title: &str, x_label: &str, rows: &[GapRow], series: &[String]) -> String {
    let ext = finite_range(rows.iter().flat_map(|r| {
        let [lo, hi] = r.ci.unwrap_or([r.value, r.value]);
        [lo, hi, r.value, 0.0]
    }))
    .unwrap_or((-1.0, 1.0));
    let pad = (ext.1 - ext.0).abs() * 0.05;
    let x = widen((ext.0 - pad, ext.1 + pad));
    let height = (TOP + BOTTOM + 16.0 * rows.len() as f64 + 10.0).max(H);
    let left = 170.0;
    let px = |v: f64| left + (v - x.0) / (x.1 - x.0) * (W - left - RIGHT);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" viewBox="0 0 {W} {height}" font-family="sans-serif" font-size="11"><rect width="{W}" height="{height}" fill="#ffffff"/><text x="{}" y="22" font-size="15" text-anchor="middle">{}</text>"##,
        (left + W - RIGHT) / 2.0,
        esc(title)
    );
    let bottom = height - BOTTOM;
    for t in ticks(x.0, x.1) {
        let _ = write!(
            svg,
            r##"<line x1="{0:.1}" y1="{TOP}" x2="{0:.1}" y2="{bottom}" stroke="{1}"/><text x="{0:.1}" y="{2}" text-anchor="middle">{3}</text>"##,
            px(t),
            if t == 0.0 { "#444" } else { "#e5e5e5" },
            bottom + 16.0,
            fmt_tick(t)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        (left + W - RIGHT) / 2.0,
        height - 14.0,
        esc(x_label)
    );
    for (i, r) in rows.iter().enumerate() {
        let y = TOP + 12.0 + 16.0 * i as f64;
        let c = color(r.series);
        let _ = write!(
            svg,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            left - 8.0,
            y + 4.0,
            esc(&r.label)
        );
        if let Some([lo, hi]) = r.ci {
            let _ = write!(
                svg,
                r#"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{c}" stroke-width="2"/>"#,
                px(lo),
                px(hi)
            );
        }
        let _ = write!(
            svg,
            r#"<circle cx="{:.1}" cy="{y:.1}" r="4" fill="{c}"><title>{}: {}</title></circle>"#,
            px(r.value),
            esc(&r.label),
            fmt_tick(r.value)
        );
    }
    for (i, n) in series.iter().enumerate() {
        let y = TOP + 8.0 + 18.0 * i as f64;
        let x = W - RIGHT + 14.0;
        let _ = write!(
            svg,
            r#"<circle cx="{}" cy="{y}" r="4" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            x + 6.0,
            color(i),
            x + 16.0,
            y + 4.0,
            esc(n)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        let t = ticks(0.0, 1.0);
        assert_eq!(t.len(), 6);
        for (a, b) in t.iter().zip([0.0, 0.2, 0.4, 0.6, 0.8, 1.0]) {
            assert!((a - b).abs() < 1e-12, "{t:?}");
        }
        let t = ticks(3.0, 47.0);
        assert!(t.first().is_some_and(|&v| v >= 3.0) && t.last().is_some_and(|&v| v <= 47.0));
        assert!(t.len() >= 3);
    }

    #[test]
    fn charts_are_single_svg_elements_with_escaped_text() {
        let s = vec![Series {
            name: "a<b".into(),
            points: vec![(0.0, 0.0), (1.0, 2.0)],
        }];
        let svg = line_chart("t & u", "x", "y", &s, &LineOpts::default());
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("a&lt;b") && svg.contains("t &amp; u"));
        assert!(svg.contains("<polyline"));
        let bars = bar_chart(
            "h",
            "x",
            "y",
            &["p".into(), "q".into()],
            &[("A".into(), vec![1.0, 3.0])],
        );
        assert_eq!(bars.matches("<rect x=").count(), 2 + 1); // 2 bars + 1 legend swatch
        let gaps = gap_chart(
            "g",
            "gap",
            &[GapRow {
                label: "F".into(),
                series: 0,
                value: -0.1,
                ci: Some([-0.2, 0.0]),
            }],
            &["m".into()],
        );
        assert!(gaps.contains("<circle") && gaps.ends_with("</svg>"));
    }
}
