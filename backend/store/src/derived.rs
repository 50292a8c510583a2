//! Data derived from message bytes, kept by blob id and kind (see migration m0009): read in
//! batches, written once (a second writer of the same bytes finds the row and skips it).

use sea_orm::{ConnectionTrait, Value};

use crate::multi::Multi;
use crate::{Result, Store};

impl Store {
    /// `(blob id, data)` of those of `blob_ids` that have data of `kind`.
    pub async fn derived_get(
        &self,
        kind: i16,
        blob_ids: &[String],
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let mut out = Vec::with_capacity(blob_ids.len());
        for chunk in blob_ids.chunks(crate::multi::ROWS_PER_INSERT) {
            let marks = vec!["?"; chunk.len()].join(",");
            let sql = format!(
                "SELECT blob_id, data FROM derived WHERE kind = ? AND blob_id IN ({marks})"
            );
            let mut values: Vec<Value> = vec![kind.into()];
            values.extend(chunk.iter().map(|b| Value::from(b.clone())));
            for r in self.db.query_all_raw(self.stmt(&sql, values)).await? {
                out.push((
                    r.try_get_by_index::<String>(0)?,
                    r.try_get_by_index::<Vec<u8>>(1)?,
                ));
            }
        }
        Ok(out)
    }

    /// Keeps data of `kind` for blobs; rows already there stay as they are.
    pub async fn derived_put(&self, kind: i16, rows: Vec<(String, Vec<u8>)>) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut m = Multi::new(self.kind);
        insert(
            &mut m,
            rows.into_iter()
                .map(|(blob, data)| vec![blob.into(), kind.into(), data.into()])
                .collect(),
        );
        self.write_multi(m).await.map(drop)
    }
}

/// Rows `(blob_id, kind, data)` into `derived`, leaving those already there as they are (a
/// second writer of the same bytes' data, or a delivery bringing data kept before).
pub(crate) fn insert(m: &mut Multi, rows: Vec<Vec<Value>>) {
    m.insert_rows_then(
        "derived",
        "blob_id, kind, data",
        rows,
        " ON CONFLICT (blob_id, kind) DO NOTHING",
    );
}
