//! What makes a synthetic person: lasting traits per identity, and per-image nuisances
//! (pose, light, expression, background, clothes, noise) that a model has to see through.

use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::draw::{Canvas, Pose, Rgb, Shape};

const HAIR_COLOURS: [Rgb; 7] = [
    [0.09, 0.07, 0.07], // black
    [0.24, 0.16, 0.11], // dark brown
    [0.45, 0.30, 0.18], // brown
    [0.58, 0.25, 0.12], // auburn
    [0.80, 0.66, 0.42], // blond
    [0.62, 0.62, 0.62], // grey
    [0.88, 0.86, 0.82], // white
];
const LIGHT_SKIN: Rgb = [0.95, 0.81, 0.70];
const DARK_SKIN: Rgb = [0.36, 0.23, 0.15];
const IRIS_COLOURS: [Rgb; 4] = [
    [0.20, 0.12, 0.07],
    [0.35, 0.22, 0.10],
    [0.25, 0.42, 0.62],
    [0.30, 0.45, 0.28],
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum HairStyle {
    Bald,
    Short,
    Fringe,
    SidePart,
    Long,
    Volume,
}
const HAIR_STYLES: [HairStyle; 6] = [
    HairStyle::Bald,
    HairStyle::Short,
    HairStyle::Fringe,
    HairStyle::SidePart,
    HairStyle::Long,
    HairStyle::Volume,
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Beard {
    Full,
    Goatee,
    Moustache,
}

/// The lasting look of one person.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    face_rx: f32,
    face_aspect: f32,
    jaw_power: f32,
    skin: Rgb,
    hair: Rgb,
    hair_style: HairStyle,
    hairline: f32,
    hair_volume: f32,
    part_slope: f32,
    eye_spacing: f32,
    eye_size: f32,
    eye_height: f32,
    iris: Rgb,
    brow_slant: f32,
    brow_thickness: f32,
    brow_gap: f32,
    nose_length: f32,
    nose_width: f32,
    mouth_width: f32,
    mouth_height: f32,
    lips: Rgb,
    ear_size: f32,
    glasses: Option<(Rgb, bool)>,
    beard: Option<Beard>,
}

/// Per-set draws that spread the most visible traits over their ranges, so that even a
/// handful of identities never has two near-twins (a Latin-hypercube over skin, hair colour,
/// hair style and face shape). Each vector gives every identity its stratum for one trait.
#[derive(Debug, Clone)]
pub(crate) struct Strata {
    skin: Vec<usize>,
    hair: Vec<usize>,
    style: Vec<usize>,
    shape: Vec<usize>,
}

impl Strata {
    pub(crate) fn new(identities: usize, rng: &mut ChaCha8Rng) -> Self {
        let mut perm = |modulus: usize| {
            let mut v: Vec<usize> = (0..identities)
                .map(|i| i % modulus.min(identities).max(1))
                .collect();
            v.shuffle(rng);
            v
        };
        Self {
            skin: perm(identities),
            hair: perm(HAIR_COLOURS.len()),
            style: perm(HAIR_STYLES.len()),
            shape: perm(identities),
        }
    }
}

fn lerp(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [0, 1, 2].map(|c| a[c] + (b[c] - a[c]) * t)
}

fn scale(colour: Rgb, factor: f32) -> Rgb {
    colour.map(|v| (v * factor).clamp(0.0, 1.0))
}

fn jitter(colour: Rgb, amount: f32, rng: &mut ChaCha8Rng) -> Rgb {
    colour.map(|v| (v + rng.random_range(-amount..=amount)).clamp(0.0, 1.0))
}

impl Identity {
    /// Draws identity `index` (0-based) of a set of `count`, from its own stream `rng`.
    pub(crate) fn sample(
        index: usize,
        count: usize,
        strata: &Strata,
        rng: &mut ChaCha8Rng,
    ) -> Self {
        let stratum = |slots: &[usize], rng: &mut ChaCha8Rng| {
            (slots[index] as f32 + rng.random::<f32>()) / count as f32
        };
        let skin_t = stratum(&strata.skin, rng);
        let shape_t = stratum(&strata.shape, rng);
        let hair_base = HAIR_COLOURS[strata.hair[index] % HAIR_COLOURS.len()];
        let hair_style = HAIR_STYLES[strata.style[index] % HAIR_STYLES.len()];

        let face_rx = rng.random_range(0.40..0.50);
        Self {
            face_rx,
            face_aspect: 1.12 + 0.33 * shape_t,
            jaw_power: rng.random_range(2.0..3.2),
            skin: jitter(lerp(LIGHT_SKIN, DARK_SKIN, skin_t), 0.03, rng),
            hair: jitter(hair_base, 0.04, rng),
            hair_style,
            hairline: rng.random_range(0.30..0.50),
            hair_volume: rng.random_range(1.02..1.14),
            part_slope: rng.random_range(-0.5..0.5),
            eye_spacing: rng.random_range(0.34..0.48) * face_rx,
            eye_size: rng.random_range(0.075..0.12),
            eye_height: rng.random_range(-0.16..0.0),
            iris: IRIS_COLOURS[rng.random_range(0..IRIS_COLOURS.len())],
            brow_slant: rng.random_range(-0.35..0.35),
            brow_thickness: rng.random_range(0.022..0.05),
            brow_gap: rng.random_range(0.10..0.17),
            nose_length: rng.random_range(0.16..0.30),
            nose_width: rng.random_range(0.05..0.11),
            mouth_width: rng.random_range(0.13..0.24),
            mouth_height: rng.random_range(0.36..0.50),
            lips: jitter([0.62, 0.28, 0.28], 0.08, rng),
            ear_size: rng.random_range(0.08..0.13),
            glasses: rng
                .random_bool(0.3)
                .then(|| (jitter([0.12, 0.12, 0.14], 0.1, rng), rng.random_bool(0.5))),
            beard: rng.random_bool(0.3).then(|| match rng.random_range(0..3) {
                0 => Beard::Full,
                1 => Beard::Goatee,
                _ => Beard::Moustache,
            }),
        }
    }
}

/// How far background and clothes colours are pulled towards grey. Fully saturated ones
/// outweigh the face in every pixel statistic, which real photos do not.
const MUTING: f32 = 0.5;

/// One photo of `person` on a `side`-pixel square; returns interleaved RGB bytes.
pub(crate) fn render(person: &Identity, side: usize, rng: &mut ChaCha8Rng) -> Vec<u8> {
    // Supersampling stands in for anti-aliasing; small images need it most.
    let supersample = if side <= 64 { 3 } else { 2 };
    let mut canvas = Canvas::new(side, supersample);

    // Background: a random two-colour gradient, unrelated to the identity.
    let bg_a: Rgb = lerp([rng.random(), rng.random(), rng.random()], [0.5; 3], MUTING);
    let bg_b = jitter(bg_a, 0.3, rng);
    let bg_angle: f32 = rng.random_range(0.0..std::f32::consts::TAU);
    let (gs, gc) = bg_angle.sin_cos();
    canvas.paint(|x, y| {
        lerp(
            bg_a,
            bg_b,
            ((x - 0.5) * gc + (y - 0.5) * gs + 0.5).clamp(0.0, 1.0),
        )
    });

    // The nuisance ranges below were tuned against a VGG8 with a 2-D ArcFace head (s = 15,
    // m = 0.5, Adam, batch 32): about 1.25x wider and it stalled near 80% val accuracy.
    let canvas_side = canvas.side() as f32;
    let pose = Pose {
        centre: (
            canvas_side * (0.5 + rng.random_range(-0.04..0.04)),
            canvas_side * (0.47 + rng.random_range(-0.032..0.032)),
        ),
        pixels_per_unit: canvas_side * 0.5 * 1.08 * rng.random_range(0.92..1.064),
        angle: rng.random_range(-0.11..0.11),
    };
    let yaw: f32 = rng.random_range(-0.22..0.22);
    let pitch: f32 = rng.random_range(-0.048..0.048);
    let smile: f32 = rng.random_range(-0.25..1.0);
    let mouth_open = rng.random_bool(0.2);
    let openness = if rng.random_bool(0.08) {
        0.15
    } else {
        rng.random_range(0.55..1.0)
    };
    let hair_volume = person.hair_volume * rng.random_range(0.97..1.03);
    let clothes: Rgb = lerp([rng.random(), rng.random(), rng.random()], [0.5; 3], MUTING);
    let wears_glasses = rng.random_bool(0.9);

    let rx = person.face_rx;
    let ry = rx * person.face_aspect;
    // Turning the head moves the inner features sideways and squeezes the far side.
    let feature = |x: f32, depth: f32| x * (1.0 - 0.25 * yaw.abs()) + yaw * rx * depth;
    let skin = person.skin;
    let shade = scale(skin, 0.78);
    let hair = person.hair;

    // Body and neck first; the head covers them.
    canvas.fill(
        &Shape::ellipse((0.0, ry + 0.62), (0.95, 0.5), 0.0),
        pose,
        clothes,
        1.0,
    );
    let neck = Shape::Polygon(vec![
        (-0.55 * rx, 0.5 * ry),
        (0.55 * rx, 0.5 * ry),
        (0.6 * rx, ry + 0.2),
        (-0.6 * rx, ry + 0.2),
    ]);
    canvas.fill(&neck, pose, shade, 1.0);

    let style = person.hair_style;
    if matches!(style, HairStyle::Long | HairStyle::Volume) {
        let (back_r, back_y) = if style == HairStyle::Long {
            ((rx * 1.28 * hair_volume, ry * 1.22), ry * 0.22)
        } else {
            (
                (rx * 1.55 * hair_volume, ry * 1.2 * hair_volume),
                -ry * 0.12,
            )
        };
        canvas.fill(
            &Shape::ellipse((yaw * 0.1, back_y), back_r, 0.0),
            pose,
            hair,
            1.0,
        );
    }

    for side_sign in [-1.0f32, 1.0] {
        let ear = Shape::ellipse(
            (side_sign * rx * 0.97 + yaw * rx * 0.25, -0.02),
            (person.ear_size * 0.6, person.ear_size),
            0.0,
        );
        canvas.fill(&ear, pose, shade, 1.0);
    }

    let face = Shape::Ellipse {
        centre: (0.0, 0.0),
        radii: (rx, ry),
        angle: 0.0,
        power: person.jaw_power,
    };
    canvas.fill(&face, pose, skin, 1.0);

    if let Some(beard) = person.beard {
        let beard_colour = scale(hair, 0.85);
        let region = match beard {
            // Below a line that rises towards the ears, so it reaches up as sideburns.
            Beard::Full => face.clone().minus(Shape::Above {
                y0: ry * 0.22,
                slope: 0.0,
                bend: -1.6,
            }),
            Beard::Goatee => {
                Shape::ellipse((feature(0.0, 0.45), ry * 0.82), (rx * 0.32, ry * 0.22), 0.0)
                    .and(face.clone())
            }
            Beard::Moustache => Shape::curve(
                (
                    feature(-person.mouth_width * 1.05, 0.45),
                    ry * person.mouth_height - 0.03,
                ),
                (feature(0.0, 0.45), ry * person.mouth_height - 0.11),
                (
                    feature(person.mouth_width * 1.05, 0.45),
                    ry * person.mouth_height - 0.03,
                ),
                0.035,
            ),
        };
        canvas.fill(&region, pose, beard_colour, 0.9);
    }

    if style != HairStyle::Bald {
        let (hairline, bend, slope) = match style {
            HairStyle::Fringe => (-ry * 0.18, 1.4, 0.0),
            HairStyle::SidePart => (-ry * person.hairline, 0.9, person.part_slope),
            HairStyle::Volume => (-ry * (person.hairline + 0.05), 0.8, 0.0),
            _ => (-ry * person.hairline, 1.1, 0.0),
        };
        let cap = Shape::ellipse(
            (yaw * 0.05, -ry * 0.12),
            (rx * 1.08 * hair_volume, ry * 1.02 * hair_volume),
            0.0,
        )
        .and(Shape::Above {
            y0: hairline,
            slope,
            bend,
        });
        canvas.fill(&cap, pose, hair, 1.0);
    } else {
        // Bald heads keep a little hair low at the sides.
        for side_sign in [-1.0f32, 1.0] {
            let tuft = Shape::ellipse(
                (side_sign * rx * 0.93, -ry * 0.25),
                (rx * 0.12, ry * 0.22),
                0.0,
            )
            .and(face.clone());
            canvas.fill(&tuft, pose, hair, 0.8);
        }
    }

    let eye_y = ry * person.eye_height + pitch;
    for side_sign in [-1.0f32, 1.0] {
        let eye_x = feature(side_sign * person.eye_spacing, 0.4);
        // The eye on the far side of a turned head looks narrower.
        let squeeze = 1.0 - 0.5 * (yaw * side_sign).max(0.0);
        let eye_r = (person.eye_size * squeeze, person.eye_size * 0.55 * openness);
        let eye = Shape::ellipse((eye_x, eye_y), eye_r, 0.0);
        canvas.fill(&eye, pose, [0.95, 0.95, 0.93], 1.0);
        let iris =
            Shape::circle((eye_x + yaw * 0.02, eye_y), person.eye_size * 0.5).and(eye.clone());
        canvas.fill(&iris, pose, person.iris, 1.0);
        let pupil = Shape::circle((eye_x + yaw * 0.02, eye_y), person.eye_size * 0.22).and(eye);
        canvas.fill(&pupil, pose, [0.03, 0.03, 0.03], 1.0);

        let brow_y = eye_y - person.brow_gap - 0.02 * (1.0 - openness);
        let inner = (
            feature(side_sign * person.eye_spacing * 0.45, 0.4),
            brow_y + person.brow_slant * 0.06,
        );
        let outer = (
            feature(side_sign * person.eye_spacing * 1.45, 0.4),
            brow_y - person.brow_slant * 0.06,
        );
        let brow = Shape::Stroke {
            points: vec![inner, outer],
            half_width: person.brow_thickness,
        };
        canvas.fill(&brow, pose, scale(hair, 0.8), 1.0);

        if let (Some((frame, round)), true) = (person.glasses, wears_glasses) {
            let r = person.eye_size * 1.75;
            let outer_r = if round { (r, r) } else { (r * 1.15, r * 0.8) };
            let lens = Shape::Ellipse {
                centre: (eye_x, eye_y),
                radii: outer_r,
                angle: 0.0,
                power: if round { 2.0 } else { 4.0 },
            };
            let inner_r = (outer_r.0 - 0.028, outer_r.1 - 0.028);
            let hole = Shape::Ellipse {
                centre: (eye_x, eye_y),
                radii: inner_r,
                angle: 0.0,
                power: if round { 2.0 } else { 4.0 },
            };
            canvas.fill(&lens.minus(hole), pose, frame, 1.0);
        }
    }
    if let (Some((frame, round)), true) = (person.glasses, wears_glasses) {
        let r = person.eye_size * if round { 1.75 } else { 2.0 };
        let bridge = Shape::Stroke {
            points: vec![
                (feature(-person.eye_spacing, 0.4) + r, eye_y),
                (feature(person.eye_spacing, 0.4) - r, eye_y),
            ],
            half_width: 0.014,
        };
        canvas.fill(&bridge, pose, frame, 1.0);
    }

    let nose_top = eye_y + 0.06;
    let nose_tip = eye_y + person.nose_length * ry + 0.04;
    let nose_x = feature(0.0, 0.6);
    let nose = Shape::Polygon(vec![
        (feature(0.0, 0.45) - person.nose_width * 0.25, nose_top),
        (nose_x - person.nose_width, nose_tip),
        (nose_x + person.nose_width, nose_tip),
        (feature(0.0, 0.45) + person.nose_width * 0.25, nose_top),
    ]);
    canvas.fill(&nose, pose, shade, 0.9);

    let mouth_y = ry * person.mouth_height + pitch * 0.5;
    let half = person.mouth_width * (1.0 + 0.15 * smile.max(0.0));
    let left = (feature(-half, 0.45), mouth_y - 0.04 * smile);
    let right = (feature(half, 0.45), mouth_y - 0.04 * smile);
    let middle = (feature(0.0, 0.45), mouth_y + 0.07 * smile);
    if mouth_open {
        let opening = Shape::ellipse(middle, (half * 0.7, 0.05), 0.0);
        canvas.fill(&opening, pose, [0.25, 0.06, 0.06], 1.0);
    }
    canvas.fill(
        &Shape::curve(left, middle, right, 0.03),
        pose,
        person.lips,
        1.0,
    );

    // Light: overall brightness, a left/right gradient and a slight colour cast.
    let brightness: f32 = rng.random_range(0.78..1.18);
    let gradient: f32 = rng.random_range(-0.24..0.24);
    let noise_level: f32 = rng.random_range(0.008..0.032);
    // The sum of three uniforms is a cheap, bounded stand-in for Gaussian noise.
    canvas.downsample(
        |x, _y| brightness * (1.0 + gradient * (x - 0.5)),
        || {
            noise_level
                * (rng.random::<f32>() + rng.random::<f32>() + rng.random::<f32>() - 1.5)
                * 2.0
        },
    )
}
