//! `metrics.csv`: one row per finished epoch. [`MetricsRow`] is what `train` writes and
//! `--resume` reads back; [`MetricsTable`] is the by-name view the pictures and the viewer read.

use std::collections::BTreeMap;
use std::path::Path;

use crate::atomic::write_atomic;
use crate::error::{IoContext, RunFolderError};

/// The header of `metrics.csv`, in order.
pub const METRICS_COLUMNS: [&str; 16] = [
    "epoch",
    "train_loss",
    "val_loss",
    "train_acc",
    "val_acc",
    "lr",
    "seconds",
    "train_angle_mean_deg",
    "train_angle_p95_deg",
    "val_angle_mean_deg",
    "val_angle_p95_deg",
    "center_angle_min_deg",
    "train_overflow",
    "val_overflow",
    "train_knn_acc",
    "val_knn_acc",
];

/// One row of `metrics.csv`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricsRow {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss of the epoch.
    pub train_loss: f64,
    /// Mean validation loss.
    pub val_loss: f64,
    /// Training accuracy, fraction.
    pub train_acc: f64,
    /// Validation accuracy, fraction.
    pub val_acc: f64,
    /// Learning rate.
    pub lr: f64,
    /// Wall time of the epoch (training, validation and snapshots).
    pub seconds: f64,
    /// Angle diagnostics of the training split's snapshot.
    pub train_angles: SplitAngles,
    /// The same for the validation split.
    pub val_angles: SplitAngles,
    /// Smallest angle between two class centres, degrees.
    pub center_min_deg: f64,
}

/// The per-split angle columns of `metrics.csv`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitAngles {
    /// Mean angle between a sample and its class centre, degrees.
    pub mean_deg: f64,
    /// Its 95th percentile, degrees.
    pub p95_deg: f64,
    /// Share of samples whose target angle plus the margin exceeds pi.
    pub overflow: f64,
    /// Leave-one-out 1-NN accuracy (cosine).
    pub knn_acc: f64,
}

impl MetricsRow {
    /// The cells, in [`METRICS_COLUMNS`] order, with the precision `metrics.csv` keeps. A value
    /// read back and written again gives the same text, which a resumed run relies on.
    fn cells(&self) -> [String; 16] {
        let (t, v) = (self.train_angles, self.val_angles);
        [
            self.epoch.to_string(),
            format!("{:.6}", self.train_loss),
            format!("{:.6}", self.val_loss),
            format!("{:.6}", self.train_acc),
            format!("{:.6}", self.val_acc),
            format!("{}", self.lr),
            format!("{:.3}", self.seconds),
            format!("{:.3}", t.mean_deg),
            format!("{:.3}", t.p95_deg),
            format!("{:.3}", v.mean_deg),
            format!("{:.3}", v.p95_deg),
            format!("{:.3}", self.center_min_deg),
            format!("{:.6}", t.overflow),
            format!("{:.6}", v.overflow),
            format!("{:.6}", t.knn_acc),
            format!("{:.6}", v.knn_acc),
        ]
    }

    fn from_cells(cells: &[f64; 16]) -> Self {
        let c = cells;
        Self {
            epoch: c[0] as usize,
            train_loss: c[1],
            val_loss: c[2],
            train_acc: c[3],
            val_acc: c[4],
            lr: c[5],
            seconds: c[6],
            train_angles: SplitAngles {
                mean_deg: c[7],
                p95_deg: c[8],
                overflow: c[12],
                knn_acc: c[14],
            },
            val_angles: SplitAngles {
                mean_deg: c[9],
                p95_deg: c[10],
                overflow: c[13],
                knn_acc: c[15],
            },
            center_min_deg: c[11],
        }
    }
}

/// Writes `rows` as `metrics.csv` at `path` (all rows: the file is small and rewritten whole).
pub fn write_metrics(path: &Path, rows: &[MetricsRow]) -> Result<(), RunFolderError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let fail =
        |e: csv::Error| RunFolderError::format(path, "rows that CSV can hold", e.to_string());
    writer.write_record(METRICS_COLUMNS).map_err(fail)?;
    for row in rows {
        writer.write_record(row.cells()).map_err(fail)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| RunFolderError::format(path, "rows that CSV can hold", e.to_string()))?;
    write_atomic(path, &bytes)
}

/// Reads the rows `train` wrote, in file order; every column of [`METRICS_COLUMNS`] must be
/// there (others are ignored) and every cell a number (`NaN` and `inf` included).
pub fn read_metrics(path: &Path) -> Result<Vec<MetricsRow>, RunFolderError> {
    let table = MetricsTable::read(path)?;
    let mut cols = [0usize; 16];
    for (slot, name) in cols.iter_mut().zip(METRICS_COLUMNS) {
        *slot = table.column_index(name).ok_or_else(|| {
            RunFolderError::format(
                path,
                format!(
                    "a column {name:?} (the header of metrics.csv is {})",
                    METRICS_COLUMNS.join(",")
                ),
                table.header.join(","),
            )
        })?;
    }
    table
        .rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let mut cells = [0.0; 16];
            for (k, &col) in cols.iter().enumerate() {
                cells[k] = row[col].ok_or_else(|| {
                    RunFolderError::format(
                        path,
                        format!(
                            "a number in column {} on line {}",
                            METRICS_COLUMNS[k],
                            i + 2
                        ),
                        format!("{:?}", table.text[i][col]),
                    )
                })?;
            }
            Ok(MetricsRow::from_cells(&cells))
        })
        .collect()
}

/// `metrics.csv` by column name: what the charts, the viewer and the comparison read. A cell
/// that is not a number is `None` (kept as text in [`Self::text`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsTable {
    pub header: Vec<String>,
    pub rows: Vec<Vec<Option<f64>>>,
    pub text: Vec<Vec<String>>,
}

impl MetricsTable {
    /// Reads a CSV with a header line; every row must have as many fields as the header.
    pub fn read(path: &Path) -> Result<Self, RunFolderError> {
        let bytes = std::fs::read(path).io_context("read", path)?;
        Self::parse(path, &bytes)
    }

    /// [`Self::read`] of bytes already in memory; `path` is for the messages.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, RunFolderError> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .flexible(true)
            .from_reader(bytes);
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| RunFolderError::format(path, "a CSV header line", e.to_string()))?
            .iter()
            .map(str::to_string)
            .collect();
        let mut table = Self {
            header,
            ..Self::default()
        };
        for (i, record) in reader.records().enumerate() {
            let record =
                record.map_err(|e| RunFolderError::format(path, "CSV rows", e.to_string()))?;
            // The csv crate counts the header as line 1.
            let line = record.position().map_or(i as u64 + 2, |p| p.line());
            if record.len() == 1 && record.get(0).is_some_and(str::is_empty) {
                continue; // a blank line
            }
            if record.len() != table.header.len() {
                return Err(RunFolderError::format(
                    path,
                    format!(
                        "{} fields on line {line} (as in the header)",
                        table.header.len()
                    ),
                    record.len().to_string(),
                ));
            }
            table
                .rows
                .push(record.iter().map(|c| c.parse::<f64>().ok()).collect());
            table.text.push(record.iter().map(str::to_string).collect());
        }
        Ok(table)
    }

    /// The position of column `name`.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// Column `name`, one value per row (`None` where the cell is not a number).
    pub fn column(&self, name: &str) -> Option<Vec<Option<f64>>> {
        let k = self.column_index(name)?;
        Some(self.rows.iter().map(|r| r[k]).collect())
    }

    /// Columns by name, for the charts.
    pub fn columns(&self) -> BTreeMap<String, Vec<Option<f64>>> {
        self.header
            .iter()
            .enumerate()
            .map(|(k, h)| (h.clone(), self.rows.iter().map(|r| r[k]).collect()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(epoch: usize) -> MetricsRow {
        let a = SplitAngles {
            mean_deg: 12.3456,
            p95_deg: 40.0,
            overflow: 0.0,
            knn_acc: 0.875,
        };
        MetricsRow {
            epoch,
            train_loss: 1.0 / 3.0,
            val_loss: f64::NAN,
            train_acc: 0.5,
            val_acc: 0.25,
            lr: 0.003,
            seconds: 1.5,
            train_angles: a,
            val_angles: a,
            center_min_deg: 90.0,
        }
    }

    #[test]
    fn the_file_has_the_documented_header_and_precision() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.csv");
        write_metrics(&path, &[row(1)]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "epoch,train_loss,val_loss,train_acc,val_acc,lr,seconds,train_angle_mean_deg,train_angle_p95_deg,val_angle_mean_deg,val_angle_p95_deg,center_angle_min_deg,train_overflow,val_overflow,train_knn_acc,val_knn_acc"
        );
        assert_eq!(
            lines.next().unwrap(),
            "1,0.333333,NaN,0.500000,0.250000,0.003,1.500,12.346,40.000,12.346,40.000,90.000,0.000000,0.000000,0.875000,0.875000"
        );
    }

    #[test]
    fn rows_read_back_write_the_same_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.csv");
        write_metrics(&path, &[row(1), row(2)]).unwrap();
        let first = std::fs::read(&path).unwrap();
        let rows = read_metrics(&path).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].epoch, 2);
        write_metrics(&path, &rows).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), first);
    }

    #[test]
    fn a_short_row_is_named_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.csv");
        std::fs::write(&path, "epoch,val_loss\n1,0.5\n2\n").unwrap();
        let err = MetricsTable::read(&path).unwrap_err().to_string();
        assert!(
            err.contains("metrics.csv") && err.contains("line 3"),
            "{err}"
        );
        let err = read_metrics(&path).unwrap_err().to_string();
        assert!(err.contains("line 3"), "{err}");
        std::fs::write(&path, "epoch,val_loss\n1,0.5\n").unwrap();
        let err = read_metrics(&path).unwrap_err().to_string();
        assert!(err.contains("\"train_loss\""), "{err}");
    }
}
