//! Numbers as decimal text and back, without the standard library's float formatting and
//! parsing: those are some 18 KB of the download (two formatting algorithms, each with a
//! shortest and a fixed-precision mode, and a parser), for a few readings and sizes.
//! Fixed decimals are rounded with integer arithmetic; shortest forms and parsing go
//! through serde_json's, which the app carries for JSON payloads anyway.

/// Digits a fixed-point figure may hold and still be rounded exactly as an integer.
const EXACT_INTEGER: f64 = 9_007_199_254_740_992.0; // 2^53

/// `x` with `decimals` digits after the point, rounded half away from zero ("2.35" for
/// 2.346 with 2); "-" only when the figure shown is not zero. Beyond what fits an exact
/// integer (|x| × 10^decimals ≥ 2^53), and for NaN and infinities, the shortest form.
pub fn fixed(x: f64, decimals: u8) -> String {
    let decimals = decimals.min(15);
    let scale = 10u64.pow(u32::from(decimals));
    let scaled = (x.abs() * scale as f64).round();
    if !scaled.is_finite() || scaled >= EXACT_INTEGER {
        return shortest(x);
    }
    let scaled = scaled as u64;
    let sign = if x < 0.0 && scaled != 0 { "-" } else { "" };
    let (whole, fraction) = (scaled / scale, scaled % scale);
    if decimals == 0 {
        format!("{sign}{whole}")
    } else {
        format!(
            "{sign}{whole}.{fraction:0width$}",
            width = usize::from(decimals)
        )
    }
}

/// The shortest decimal form that reads back as `x` ("0.1", "1e+20", "23.0"); "NaN",
/// "inf" and "-inf" for the rest.
pub fn shortest(x: f64) -> String {
    match serde_json::Number::from_f64(x) {
        Some(n) => n.to_string(),
        None if x.is_nan() => "NaN".into(),
        None if x > 0.0 => "inf".into(),
        None => "-inf".into(),
    }
}

/// An f32 as the f64 with the same shortest decimal form (4.05f32 → 4.05, not
/// 4.050000190734863): what the sender meant, and what a JSON uplink of it shows.
pub fn f32_as_written(value: f32) -> f64 {
    let Some((text, parsed)) = serde_json::to_string(&value)
        .ok()
        .and_then(|text| parse(&text).map(|parsed| (text, parsed)))
    else {
        return f64::from(value);
    };
    // The parser may land a unit or two in the last place off (5.0223535e-17 read as
    // 5.0223535000000004e-17): the f64 meant is the neighbour whose shortest form is the text.
    let (up, down) = (parsed.next_up(), parsed.next_down());
    [parsed, up, down, up.next_up(), down.next_down()]
        .into_iter()
        .find(|candidate| shortest(*candidate) == text)
        .unwrap_or(parsed)
}

/// A decimal number as people type it and devices send it: `12`, `-0.5`, `+3`, `.5`, `5.`,
/// `1e3`, surrounding spaces allowed. Not `inf`, `NaN`, hex, digit separators, or a
/// number beyond an f64's range. Exact for the short decimals readings are; a long mantissa
/// or a large exponent may come out a unit or two in the last place off.
pub fn parse(text: &str) -> Option<f64> {
    let text = text.trim();
    let text = text.strip_prefix('+').unwrap_or(text);
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text),
    };
    let mantissa = &digits[..digits.find(['e', 'E']).unwrap_or(digits.len())];
    if !mantissa.bytes().any(|b| b.is_ascii_digit())
        || !digits
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
    {
        return None;
    }
    // JSON's grammar wants one digit before the point, not more leading zeros, and a digit
    // after the point.
    let (whole, rest) = digits.split_at(digits.bytes().take_while(u8::is_ascii_digit).count());
    let whole = match whole.trim_start_matches('0') {
        "" => "0",
        whole => whole,
    };
    let rest = match rest.strip_prefix('.') {
        Some(after) if after.is_empty() || after.starts_with(['e', 'E']) => format!(".0{after}"),
        _ => rest.to_string(),
    };
    serde_json::from_str::<f64>(&format!("{sign}{whole}{rest}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_rounds_to_the_decimals_asked() {
        assert_eq!(fixed(2.346, 2), "2.35");
        assert_eq!(fixed(2.0, 1), "2.0");
        assert_eq!(fixed(1536.0 / 1024.0, 1), "1.5");
        assert_eq!(fixed(52.123456789, 5), "52.12346");
        assert_eq!(fixed(-13.36049, 5), "-13.36049");
        assert_eq!(fixed(0.25, 0), "0");
        assert_eq!(fixed(0.5, 0), "1");
        assert_eq!(fixed(-0.5, 0), "-1");
        assert_eq!(fixed(-0.001, 2), "0.00");
        assert_eq!(fixed(9.999, 2), "10.00");
        assert_eq!(fixed(1e14, 0), "100000000000000");
        assert_eq!(fixed(123.0, 0), "123");
    }

    #[test]
    fn fixed_agrees_with_the_standard_formatting_away_from_ties() {
        // A tie (…5 exactly at the cut) is where the two may round apart: half away from
        // zero here, half to even there. Away from ties they must agree.
        for i in 0..20_000u32 {
            let x = (f64::from(i) * 0.618_033_988_7 - 3_000.0) * 1.000_1;
            for decimals in [0u8, 1, 2, 5] {
                let ours = fixed(x, decimals);
                let std = format!("{x:.*}", usize::from(decimals));
                let std =
                    if std.starts_with("-") && std.trim_start_matches(['-', '0', '.']).is_empty() {
                        std[1..].to_string()
                    } else {
                        std
                    };
                assert_eq!(ours, std, "{x} with {decimals}");
            }
        }
    }

    #[test]
    fn beyond_exact_integers_and_for_non_numbers_the_shortest_form() {
        assert_eq!(fixed(1e20, 2), "1e+20");
        assert_eq!(fixed(f64::NAN, 1), "NaN");
        assert_eq!(fixed(f64::INFINITY, 1), "inf");
        assert_eq!(fixed(f64::NEG_INFINITY, 0), "-inf");
        assert_eq!(shortest(0.1), "0.1");
        assert_eq!(shortest(23.0), "23.0");
    }

    #[test]
    fn an_f32_reads_as_it_was_written() {
        assert_eq!(f32_as_written(4.05), 4.05);
        assert_eq!(f32_as_written(-273.15), -273.15);
        assert_eq!(f32_as_written(1e30), 1e30);
        assert_eq!(f32_as_written(0.0), 0.0);
        assert!(f32_as_written(f32::NAN).is_nan());
        assert_eq!(f32_as_written(f32::INFINITY), f64::INFINITY);
    }

    #[test]
    fn parse_reads_numbers_as_typed_and_nothing_else() {
        for (text, n) in [
            ("12", 12.0),
            (" -0.5 ", -0.5),
            ("+3", 3.0),
            (".5", 0.5),
            ("-.5", -0.5),
            ("5.", 5.0),
            ("5.e2", 500.0),
            ("1e3", 1000.0),
            ("2.5E-1", 0.25),
            ("23.45", 23.45),
            ("007", 7.0),
            ("00.5", 0.5),
            ("0", 0.0),
        ] {
            assert_eq!(parse(text), Some(n), "{text}");
        }
        for text in [
            "", "-", ".", "abc", "1,5", "0x10", "inf", "NaN", "1_000", "[5]", "\"5\"", "5 5",
            "--5", "e5", ".e5", "1.2.3",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }

    /// Digits of a decimal's mantissa without leading and trailing zeros ("0.0250" → 2).
    fn significant_digits(text: &str) -> usize {
        let mantissa = text.split(['e', 'E']).next().unwrap_or("");
        let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
        digits.trim_start_matches('0').trim_end_matches('0').len()
    }

    #[test]
    fn an_f32_exactly_between_two_shortest_decimals_gets_one_of_them() {
        let v = 3_082_443.2_f32; // 3082443.25, halfway between 3082443.2 and 3082443.3
        let ours = f32_as_written(v);
        assert_eq!(ours as f32, v);
        assert!(
            ["3082443.2", "3082443.3"].contains(&shortest(ours).as_str()),
            "{ours}"
        );
        // One the parser reads a unit in the last place off, found again.
        assert_eq!(shortest(f32_as_written(5.022_353_5e-17)), "5.0223535e-17");
        assert_eq!(significant_digits("0.0250"), 2);
        assert_eq!(significant_digits("-1.5e+20"), 2);
    }

    proptest::proptest! {
        /// Any text: a number or `None`, never a panic; a decimal as people write it reads
        /// as the standard parser reads it.
        #[test]
        fn parse_agrees_with_the_standard_parser(
            text in "[ +-]?[0-9]{0,12}(\\.[0-9]{0,12})?([eE][+-]?[0-9]{1,3})? ?",
            junk in ".{0,12}",
        ) {
            let ours = parse(&text);
            let theirs = text.trim().parse::<f64>().ok();
            // (Beyond f64's range the standard parser says infinity, this one nothing.)
            if text.trim().bytes().any(|b| b.is_ascii_digit()) && theirs.is_none_or(f64::is_finite) {
                // serde_json's parser (without its float_roundtrip feature, which would add
                // to the download) may land a unit or two in the last place off for long
                // mantissas or large exponents ("35564150440.656954e-19"); short decimals
                // parse exactly.
                let close = match (ours, theirs) {
                    (Some(a), Some(b)) => a == b || a.to_bits().abs_diff(b.to_bits()) <= 2,
                    (a, b) => a == b,
                };
                proptest::prop_assert!(close, "{:?}: {:?} vs {:?}", text, ours, theirs);
            }
            let _ = parse(&junk);
        }

        #[test]
        fn an_f32_as_written_is_that_f32_and_its_shortest_decimal(v in proptest::num::f32::ANY) {
            let ours = f32_as_written(v);
            if v.is_finite() {
                proptest::prop_assert_eq!(ours as f32, v);
                // As short as the standard library's shortest form. Not always the same
                // digits: where v lies exactly between two shortest decimals the two
                // formatters may pick different ones (3082443.25f32: "3082443.2", "3082443.3").
                let (ours_text, std_text) = (shortest(ours), v.to_string());
                proptest::prop_assert!(
                    significant_digits(&ours_text) <= significant_digits(&std_text),
                    "{} vs {}", ours_text, std_text
                );
            }
        }

        #[test]
        fn fixed_never_panics_and_reads_back_close(x in proptest::num::f64::ANY, decimals in 0u8..8) {
            let text = fixed(x, decimals);
            if x.is_finite() && x.abs() < 1e12 {
                let back: f64 = text.parse().unwrap();
                // Half a unit of the last digit shown, plus a few units in the last place of
                // x: the scaled x is rounded once as an f64 before it is rounded to a whole,
                // and `back` is itself the nearest f64 (at 5.7e7 one unit is 7.5e-9).
                let half_digit = 0.5 * 10f64.powi(-i32::from(decimals));
                let tolerance = half_digit + x.abs() * 4.0 * f64::EPSILON;
                proptest::prop_assert!((back - x).abs() <= tolerance, "{} -> {}", x, text);
            }
        }
    }
}
