//! Orientation as HEIF shows it: `irot`/`imir` transformative properties,
//! made from an EXIF orientation (1–8) and read back into one, so that an
//! orientation only the removed EXIF or XMP held survives as properties of
//! the primary item, and the report says what the output shows.

/// `imir` modes as ISO/IEC 23008-12 (amended; the field was first called
/// `axis`) and libheif read them: 0 exchanges top and bottom, 1 left and
/// right.
const MIRROR_TOP_BOTTOM: u8 = 0;
const MIRROR_LEFT_RIGHT: u8 = 1;

/// A transformative property of the primary item, in the order listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transform {
    /// `irot`: anti-clockwise quarter turns.
    Rotate(u8),
    /// `imir`: [`MIRROR_TOP_BOTTOM`] or [`MIRROR_LEFT_RIGHT`].
    Mirror(u8),
}

/// The `irot`/`imir` properties (applied in this order) that display a
/// picture as an EXIF orientation (1–8) asks; none for 1 or a bad value.
pub(crate) fn transforms_for(orientation: u16) -> Vec<Transform> {
    use Transform::{Mirror, Rotate};
    match orientation {
        2 => vec![Mirror(MIRROR_LEFT_RIGHT)],
        3 => vec![Rotate(2)],
        4 => vec![Mirror(MIRROR_TOP_BOTTOM)],
        // Transpose: a quarter turn anti-clockwise, then top for bottom.
        5 => vec![Rotate(1), Mirror(MIRROR_TOP_BOTTOM)],
        6 => vec![Rotate(3)],
        // Transverse: a quarter turn clockwise, then top for bottom.
        7 => vec![Rotate(3), Mirror(MIRROR_TOP_BOTTOM)],
        8 => vec![Rotate(1)],
        _ => vec![],
    }
}

type Matrix = [[i8; 2]; 2];

/// Where a transform sends a point (x right, y down, about the centre).
fn matrix(t: Transform) -> Matrix {
    match t {
        Transform::Rotate(a) => {
            let mut m = [[1, 0], [0, 1]];
            for _ in 0..(a & 3) {
                // A quarter turn anti-clockwise: right goes to the top.
                m = mul([[0, 1], [-1, 0]], m);
            }
            m
        }
        Transform::Mirror(MIRROR_TOP_BOTTOM) => [[1, 0], [0, -1]],
        Transform::Mirror(_) => [[-1, 0], [0, 1]],
    }
}

fn mul(a: Matrix, b: Matrix) -> Matrix {
    let mut m = [[0; 2]; 2];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = a[i][0] * b[0][j] + a[i][1] * b[1][j];
        }
    }
    m
}

/// The EXIF orientation (1–8) that shows what `transforms`, applied in
/// order, show.
pub(crate) fn orientation_of(transforms: &[Transform]) -> u16 {
    // EXIF 1–8 as matrices: identity, left-right, half turn, top-bottom,
    // transpose, clockwise, transverse, anti-clockwise.
    const EXIF: [Matrix; 8] = [
        [[1, 0], [0, 1]],
        [[-1, 0], [0, 1]],
        [[-1, 0], [0, -1]],
        [[1, 0], [0, -1]],
        [[0, 1], [1, 0]],
        [[0, -1], [1, 0]],
        [[0, -1], [-1, 0]],
        [[0, 1], [-1, 0]],
    ];
    let m = transforms
        .iter()
        .fold([[1, 0], [0, 1]], |m, &t| mul(matrix(t), m));
    EXIF.iter()
        .position(|e| *e == m)
        .map_or(1, |i| i as u16 + 1)
}

/// The transforms to add to the primary item, and the orientation the
/// output then shows: the primary's `existing` transforms win (none is
/// added); without them, `source` (the removed EXIF's, else XMP's
/// orientation) is carried into new ones.
pub(super) fn carried(
    existing: Vec<Transform>,
    source: Option<u16>,
) -> (Vec<Transform>, Option<u16>) {
    let added = if existing.is_empty() {
        source.map(transforms_for).unwrap_or_default()
    } else {
        vec![]
    };
    let orientation = if existing.is_empty() && added.is_empty() {
        source
    } else {
        Some(orientation_of(&[existing, added.clone()].concat()))
    };
    (added, orientation)
}
