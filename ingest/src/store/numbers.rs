//! Names a stored row holds by number: a data key's id (34 characters), an
//! analytics pseudonym (34), a LOINC code with its unit. Each is numbered
//! once, by the write that first stores it (`ingest.data_keys`,
//! `analytics.pseudonyms`, `analytics.codes`), and a number never changes
//! (no service may update or delete one), so a connection remembers the
//! numbers it has seen committed: a write asks the database only for names
//! it has not met.

use std::collections::HashMap;

/// A table of numbered names.
pub struct Table {
    pub name: &'static str,
    /// Its identity column (`integer`).
    pub number: &'static str,
    /// The columns (`text`) that together are a name, unique.
    pub columns: &'static [&'static str],
}

pub const DATA_KEYS: Table = Table {
    name: "ingest.data_keys",
    number: "key_no",
    columns: &["key_id"],
};

pub const PSEUDONYMS: Table = Table {
    name: "analytics.pseudonyms",
    number: "pseudonym_no",
    columns: &["pseudonym"],
};

pub const CODES: Table = Table {
    name: "analytics.codes",
    number: "code_no",
    columns: &["loinc", "unit"],
};

/// How many numbers of a table a connection remembers: past it, it forgets
/// them all and asks again (data keys are made every hour for each
/// patient: remembered for ever, they would grow without bound).
const REMEMBERED: usize = 200_000;

/// A name as a key of the maps: its columns joined by NUL, which no
/// PostgreSQL text holds, so two names never join into one.
pub fn joined(columns: &[&str]) -> String {
    columns.join("\0")
}

/// The numbers of one table's names this connection has met.
pub struct Numbers {
    table: &'static Table,
    /// Committed: true for as long as the database holds them.
    known: HashMap<String, i32>,
    /// Read or made by the write under way: known once it commits (a
    /// number made by a transaction rolled back never existed).
    pending: HashMap<String, i32>,
}

impl Numbers {
    pub fn new(table: &'static Table) -> Self {
        Self {
            table,
            known: HashMap::new(),
            pending: HashMap::new(),
        }
    }

    /// The number of `name` (joined columns) read or made by [`Self::number`].
    pub fn get(&self, name: &str) -> Option<i32> {
        self.known
            .get(name)
            .or_else(|| self.pending.get(name))
            .copied()
    }

    /// Makes sure each of `names` (joined columns) has a number this
    /// connection knows: those it does not are numbered if new — only the
    /// missing ones are inserted, since an insert that meets its conflict
    /// would spend a number of the identity — and read in a statement of
    /// their own, which sees a number a concurrent write made once that
    /// write commits (the insert waits for it).
    pub fn number<'a>(
        &mut self,
        tx: &mut postgres::Transaction<'_>,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), postgres::Error> {
        let mut missing: Vec<&str> = names
            .into_iter()
            .filter(|n| self.get(n).is_none())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        missing.sort_unstable();
        missing.dedup();
        let t = self.table;
        let columns: Vec<Vec<&str>> = (0..t.columns.len())
            .map(|i| {
                missing
                    .iter()
                    .map(|n| n.split('\0').nth(i).unwrap_or(""))
                    .collect()
            })
            .collect();
        let params: Vec<&(dyn postgres::types::ToSql + Sync)> = columns
            .iter()
            .map(|c| c as &(dyn postgres::types::ToSql + Sync))
            .collect();
        let cols = t.columns.join(", ");
        let arrays = (1..=t.columns.len())
            .map(|i| format!("${i}::text[]"))
            .collect::<Vec<_>>()
            .join(", ");
        let same = t
            .columns
            .iter()
            .map(|c| format!("x.{c} = g.{c}"))
            .collect::<Vec<_>>()
            .join(" AND ");
        tx.execute(
            &format!(
                "INSERT INTO {table} ({cols})
                 SELECT * FROM unnest({arrays}) AS g({cols})
                 WHERE NOT EXISTS (SELECT 1 FROM {table} x WHERE {same})
                 ON CONFLICT ({cols}) DO NOTHING",
                table = t.name
            ),
            &params,
        )?;
        // One column: `= ANY`, which reads the unique index for each name
        // however the planner guesses the array's length.
        let given = match t.columns {
            [only] => format!("x.{only} = ANY($1::text[])"),
            _ => format!("({cols}) IN (SELECT * FROM unnest({arrays}))"),
        };
        for row in tx.query(
            &format!(
                "SELECT x.{number}, x.{listed} FROM {table} x WHERE {given}",
                number = t.number,
                listed = t.columns.join(", x."),
                table = t.name
            ),
            &params,
        )? {
            let name: Vec<&str> = (1..=t.columns.len()).map(|i| row.get(i)).collect();
            self.pending.insert(joined(&name), row.get(0));
        }
        Ok(())
    }

    /// The write under way committed: what it read or made is known.
    pub fn committed(&mut self) {
        if self.known.len() + self.pending.len() > REMEMBERED {
            self.known.clear();
        }
        self.known.extend(self.pending.drain());
    }

    /// Forgets every number: after a write that did not commit (what it
    /// made is gone, and whatever failed — a migration under way, a restore
    /// — may have changed the tables), or on a connection made again.
    pub fn forget(&mut self) {
        self.known.clear();
        self.pending.clear();
    }
}
