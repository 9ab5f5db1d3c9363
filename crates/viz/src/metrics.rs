//! `metrics.csv`: one row of losses and accuracies per epoch.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::VizError;

/// The numbers of one epoch that go into titles; `None` where the cell is
/// empty or not a finite number (e.g. no validation that epoch).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct EpochMetrics {
    pub train_loss: Option<f64>,
    pub val_loss: Option<f64>,
    pub train_acc: Option<f64>,
    pub val_acc: Option<f64>,
}

const REQUIRED: [&str; 5] = ["epoch", "train_loss", "val_loss", "train_acc", "val_acc"];

/// Rows by epoch number. Columns are found by header name, so extra or
/// reordered columns are fine.
pub(crate) fn read_metrics(path: &Path) -> Result<BTreeMap<u32, EpochMetrics>, VizError> {
    let table = run_folder::MetricsTable::read(path)?;
    let cols: Vec<usize> = REQUIRED
        .iter()
        .filter_map(|n| table.column_index(n))
        .collect();
    if cols.len() != REQUIRED.len() {
        return Err(VizError::format(
            path,
            format!("a header with the columns {}", REQUIRED.join(",")),
            format!("{:?}", table.header.join(",")),
        ));
    }
    let mut rows = BTreeMap::new();
    for (i, (row, text)) in table.rows.iter().zip(&table.text).enumerate() {
        let epoch = text[cols[0]].parse::<u32>().map_err(|_| {
            VizError::format(
                path,
                format!("an epoch number on line {}", i + 2),
                format!("{:?}", text[cols[0]]),
            )
        })?;
        let num = |c: usize| row[c].filter(|v| v.is_finite());
        rows.insert(
            epoch,
            EpochMetrics {
                train_loss: num(cols[1]),
                val_loss: num(cols[2]),
                train_acc: num(cols[3]),
                val_acc: num(cols[4]),
            },
        );
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rows_by_header_name_and_rejects_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.csv");
        std::fs::write(&path, "epoch,train_loss,val_loss,train_acc,val_acc,lr,seconds\n1,2.5,2.75,0.25,0.2,0.1,3.2\n2,0.41,,0.931,NaN,0.1,3.1\n").unwrap();
        let m = read_metrics(&path).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(
            m[&1],
            EpochMetrics {
                train_loss: Some(2.5),
                val_loss: Some(2.75),
                train_acc: Some(0.25),
                val_acc: Some(0.2)
            }
        );
        assert_eq!(
            m[&2],
            EpochMetrics {
                train_loss: Some(0.41),
                val_loss: None,
                train_acc: Some(0.931),
                val_acc: None
            }
        );

        std::fs::write(
            &path,
            "val_acc,epoch,train_acc,val_loss,train_loss\n0.5,3,0.6,1.0,0.9\n",
        )
        .unwrap();
        assert_eq!(read_metrics(&path).unwrap()[&3].train_loss, Some(0.9));

        std::fs::write(&path, "epoch,loss\n1,2\n").unwrap();
        let err = read_metrics(&path).unwrap_err().to_string();
        assert!(
            err.contains("metrics.csv") && err.contains("train_loss"),
            "{err}"
        );

        std::fs::write(
            &path,
            "epoch,train_loss,val_loss,train_acc,val_acc\n1,2,3\n",
        )
        .unwrap();
        let err = read_metrics(&path).unwrap_err().to_string();
        assert!(
            err.contains("metrics.csv") && err.contains("line 2"),
            "{err}"
        );
    }
}
