//! The measurements the simulated devices send: LOINC code, name, UCUM unit,
//! the physiologically possible range, and the typical range they draw
//! from. Ingest, the FHIR export and the CLI read codes from the consortium's
//! code directory on chain, seeded with the same codes
//! (`abci-app/core/codes/seed.json`; a test keeps the two equal).

/// What a LOINC code is, its unit and the plausible range of its values.
#[derive(Debug)]
pub struct Vital {
    pub loinc: &'static str,
    pub name: &'static str,
    pub unit: &'static str,
    pub min: f64,
    pub max: f64,
    /// What a resting adult typically shows: the range simulated devices
    /// draw from.
    pub typical: (f64, f64),
}

/// The measurements the system takes.
pub const VITALS: &[Vital] = &[
    Vital {
        loinc: "8867-4",
        name: "heart rate",
        unit: "/min",
        min: 20.0,
        max: 300.0,
        typical: (58.0, 96.0),
    },
    Vital {
        loinc: "59408-5",
        name: "oxygen saturation (pulse oximetry)",
        unit: "%",
        min: 50.0,
        max: 100.0,
        typical: (94.0, 99.5),
    },
    Vital {
        loinc: "8480-6",
        name: "systolic blood pressure",
        unit: "mm[Hg]",
        min: 40.0,
        max: 300.0,
        typical: (100.0, 135.0),
    },
    Vital {
        loinc: "8462-4",
        name: "diastolic blood pressure",
        unit: "mm[Hg]",
        min: 20.0,
        max: 200.0,
        typical: (60.0, 85.0),
    },
    Vital {
        loinc: "2339-0",
        name: "glucose (mass/volume)",
        unit: "mg/dL",
        min: 10.0,
        max: 1000.0,
        typical: (70.0, 140.0),
    },
    Vital {
        loinc: "15074-8",
        name: "glucose (moles/volume)",
        unit: "mmol/L",
        min: 0.5,
        max: 55.0,
        typical: (3.9, 7.8),
    },
    Vital {
        loinc: "8310-5",
        name: "body temperature",
        unit: "Cel",
        min: 25.0,
        max: 45.0,
        typical: (36.3, 37.6),
    },
    Vital {
        loinc: "9279-1",
        name: "respiratory rate",
        unit: "/min",
        min: 2.0,
        max: 80.0,
        typical: (12.0, 20.0),
    },
    Vital {
        loinc: "29463-7",
        name: "body weight",
        unit: "kg",
        min: 0.3,
        max: 500.0,
        typical: (50.0, 100.0),
    },
];

pub fn vital(loinc: &str) -> Option<&'static Vital> {
    VITALS.iter().find(|v| v.loinc == loinc)
}

#[cfg(test)]
mod tests {
    /// The directory's seeded measurements are this table's: what ingest
    /// accepts, the FHIR export can name.
    #[test]
    fn the_seeded_directory_measures_what_this_table_does() {
        let seeded: Vec<(String, String, f64, f64)> = ehr_ledger::ledger::genesis::seed_codes()
            .into_iter()
            .filter(|c| c.system == "loinc" && !c.unit.is_empty())
            .map(|c| (c.code, c.unit, c.min, c.max))
            .collect();
        let here: Vec<(String, String, f64, f64)> = super::VITALS
            .iter()
            .map(|v| (v.loinc.to_string(), v.unit.to_string(), v.min, v.max))
            .collect();
        assert_eq!(seeded, here);
    }
}
