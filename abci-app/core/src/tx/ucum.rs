//! Whether a unit is a UCUM expression a clinical directory uses: UCUM's
//! grammar (`/term`, `term.component`, `term/component`, `(term)`, an
//! exponent, a `{annotation}`, a factor) over the atoms of clinical
//! measurements — SI base and derived units, time, volume, the clinical
//! ones (mm[Hg], [IU], eq, osm, Cel, [degF]…) — with SI prefixes on the
//! metric ones. Not every UCUM atom is here (no astronomical or typographic
//! units): a unit outside the list is refused with its name, and the list
//! grows with the consortium's needs.

/// Metric atoms: take an SI prefix.
const METRIC: &[&str] = &[
    "m", "g", "s", "L", "l", "mol", "K", "A", "cd", "Hz", "N", "Pa", "J", "W", "C", "V", "F",
    "Ohm", "S", "Wb", "T", "H", "lm", "lx", "Bq", "Gy", "Sv", "kat", "U", "eq", "osm", "bar",
    "cal", "t", "m[Hg]", "m[H2O]", "[iU]", "[IU]", "Cel", "sr", "rad", "Ci", "B",
];

/// Atoms that take no prefix.
const PLAIN: &[&str] = &[
    "min",
    "h",
    "d",
    "wk",
    "mo",
    "a",
    "%",
    "[degF]",
    "[lb_av]",
    "[oz_av]",
    "[in_i]",
    "[ft_i]",
    "[ppm]",
    "[ppb]",
    "[pH]",
    "[drp]",
    "[mi_i]",
    "[gal_us]",
    "[foz_us]",
    "[Btu]",
    "10*",
    "10^",
    "[arb'U]",
    "[HPF]",
    "[LPF]",
    "[CFU]",
    "[PFU]",
    "[beth'U]",
    "[MET]",
    "[S]",
    "[todd'U]",
    "[car_m]",
    "[Cal]",
    "deg",
    "gon",
    "[hp'_X]",
    "[mesh_i]",
    "[APL'U]",
    "[GPL'U]",
    "[MPL'U]",
    "[USP'U]",
    "[AU]",
    "[BAU]",
    "[ppth]",
    "[Ch]",
    "[diop]",
    "[in_i'Hg]",
    "[psi]",
    "atm",
];

/// SI prefixes, longest first so that `da` is tried before `d`.
const PREFIXES: &[&str] = &[
    "da", "Y", "Z", "E", "P", "T", "G", "M", "k", "h", "d", "c", "m", "u", "n", "p", "f", "a", "z",
    "y",
];

/// Why the unit is not one; `None` when it is.
pub fn problem(unit: &str) -> Option<String> {
    let mut p = Parser {
        s: unit.as_bytes(),
        i: 0,
    };
    if p.s.first() == Some(&b'/') {
        p.i = 1;
    }
    if let Err(e) = p.term(0) {
        return Some(e);
    }
    if p.i != p.s.len() {
        return Some(format!("unexpected {:?} at position {}", p.rest(), p.i + 1));
    }
    None
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn rest(&self) -> String {
        String::from_utf8_lossy(&self.s[self.i..]).into_owned()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// component (('.' | '/') component)*
    fn term(&mut self, depth: usize) -> Result<(), String> {
        if depth > 8 {
            return Err("parentheses nest too deep".into());
        }
        self.component(depth)?;
        while let Some(b'.' | b'/') = self.peek() {
            self.i += 1;
            self.component(depth)?;
        }
        Ok(())
    }

    fn component(&mut self, depth: usize) -> Result<(), String> {
        match self.peek() {
            None => Err("it ends where a unit is expected".into()),
            Some(b'(') => {
                self.i += 1;
                self.term(depth + 1)?;
                if self.peek() != Some(b')') {
                    return Err("a parenthesis is not closed".into());
                }
                self.i += 1;
                self.annotation()
            }
            Some(b'{') => self.annotation(),
            Some(c) if c.is_ascii_digit() && !self.at_ten_power() => {
                // A factor: digits, perhaps annotated (`/100{WBCs}`).
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.i += 1;
                }
                self.annotation()
            }
            Some(_) => {
                self.simple_unit()?;
                self.exponent();
                self.annotation()
            }
        }
    }

    fn at_ten_power(&self) -> bool {
        self.s[self.i..].starts_with(b"10*") || self.s[self.i..].starts_with(b"10^")
    }

    /// An optional `{…}` (no braces inside).
    fn annotation(&mut self) -> Result<(), String> {
        if self.peek() != Some(b'{') {
            return Ok(());
        }
        let close = self.s[self.i..]
            .iter()
            .position(|c| *c == b'}')
            .ok_or("an annotation's { is not closed")?;
        if self.s[self.i + 1..self.i + close].contains(&b'{') {
            return Err("an annotation holds a {".into());
        }
        self.i += close + 1;
        Ok(())
    }

    /// An optional signed integer exponent.
    fn exponent(&mut self) {
        let start = self.i;
        if let Some(b'+' | b'-') = self.peek() {
            self.i += 1;
        }
        let digits = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        if self.i == digits {
            self.i = start;
        }
    }

    /// The longest atom (with a prefix on a metric one) the text starts
    /// with; the symbol runs to the next operator, bracket group included.
    fn simple_unit(&mut self) -> Result<(), String> {
        let end = self.symbol_end();
        let symbol = std::str::from_utf8(&self.s[self.i..end]).map_err(|_| "not ASCII")?;
        // An exponent's digits (and sign) end the symbol, except inside
        // brackets and in 10* and 10^.
        let (unit, _) = split_exponent(symbol);
        if unit.is_empty() {
            return Err(format!("{symbol:?} is no unit"));
        }
        if known(unit) {
            self.i += unit.len();
            return Ok(());
        }
        Err(format!("{unit:?} is not a UCUM unit this directory knows"))
    }

    fn symbol_end(&self) -> usize {
        let mut j = self.i;
        let mut bracket = false;
        while let Some(&c) = self.s.get(j) {
            match c {
                b'[' => bracket = true,
                b']' => bracket = false,
                b'.' | b'/' | b'(' | b')' | b'{' if !bracket => break,
                _ => {}
            }
            j += 1;
        }
        j
    }
}

/// `symbol` split into its unit and trailing exponent (`m2` → `m`, `2`).
fn split_exponent(symbol: &str) -> (&str, &str) {
    if let Some(rest) = symbol
        .strip_prefix("10*")
        .or_else(|| symbol.strip_prefix("10^"))
    {
        return (&symbol[..3], rest);
    }
    let digits = symbol.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let cut = if digits < symbol.len() && symbol[..digits].ends_with(['+', '-']) {
        digits - 1
    } else {
        digits
    };
    // `[H2O]`-like symbols end in a bracket, never in digits.
    symbol.split_at(cut)
}

fn known(unit: &str) -> bool {
    PLAIN.contains(&unit)
        || METRIC.contains(&unit)
        || PREFIXES.iter().any(|p| {
            unit.strip_prefix(p)
                .is_some_and(|atom| METRIC.contains(&atom))
        })
}

#[cfg(test)]
mod tests {
    use super::problem;

    #[test]
    fn clinical_units_are_ucum() {
        for unit in [
            "/min",
            "%",
            "mm[Hg]",
            "mg/dL",
            "mmol/L",
            "Cel",
            "kg",
            "10*3/uL",
            "10*9/L",
            "g/dL",
            "[IU]/L",
            "kg/m2",
            "mL/min/{1.73_m2}",
            "m2",
            "ug/L",
            "meq/L",
            "mosm/kg",
            "[degF]",
            "cm[H2O]",
            "s-1",
            "{beats}/min",
            "(kg.m)/s2",
            "U/L",
            "1/min",
            "fL",
            "pg",
            "[lb_av]",
            "dag",
            "/100{WBCs}",
            "umol/L",
            "ng/mL",
            "mm/h",
            "L/min",
            "/[HPF]",
            "{cells}/uL",
            "%{saturation}",
            "mCi",
            "dB",
            "[psi]",
            "[APL'U]/mL",
        ] {
            assert_eq!(problem(unit), None, "{unit}");
        }
    }

    #[test]
    fn what_is_not_ucum_is_named() {
        for (unit, says) in [
            ("mmHg", "not a UCUM unit"),
            ("bpm", "not a UCUM unit"),
            ("mg/", "ends where a unit"),
            ("mg//dL", "is no unit"),
            ("(mg/dL", "not closed"),
            ("{beats", "not closed"),
            ("kg)", "unexpected"),
            ("degC", "not a UCUM unit"),
            ("", "ends where a unit"),
        ] {
            let p = problem(unit).unwrap_or_default();
            assert!(p.contains(says), "{unit:?}: {p:?}");
        }
    }
}
