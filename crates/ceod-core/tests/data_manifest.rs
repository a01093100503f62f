//! Manifest CSVs: columns in any order, quoting, relative paths, errors with file and line.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use ceod_core::DataError;
use ceod_core::data::{Manifest, ManifestOptions, Sample, Split};

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn columns_in_any_order_quoted_fields_and_relative_paths() {
    let d = tempfile::tempdir().unwrap();
    let csv = "Group,SPLIT,mask,label,image,extra\r\n\
               part 1,train,m/a.png,1,\"img/a, first.png\",x\r\n\
               ,Test,,0,/abs/b.png,\"y\"\"z\"\r\n\
               \r\n\
               p2,val,m/c.json,2,img/c.png,\r\n";
    let p = write(d.path(), "list.csv", csv);
    let m = Manifest::read(&p).unwrap();
    assert_eq!(m.path, p);
    let base = d.path();
    assert_eq!(
        m.samples,
        vec![
            Sample {
                image: base.join("img/a, first.png"),
                label: 1,
                mask: Some(base.join("m/a.png")),
                split: Some(Split::Train),
                group: Some("part 1".into()),
            },
            Sample {
                image: "/abs/b.png".into(),
                label: 0,
                mask: None,
                split: Some(Split::Test),
                group: None,
            },
            Sample {
                image: base.join("img/c.png"),
                label: 2,
                mask: Some(base.join("m/c.json")),
                split: Some(Split::Val),
                group: Some("p2".into()),
            },
        ]
    );
}

fn manifest_error(text: &str) -> (usize, String) {
    match Manifest::parse(text, "/data/m.csv").unwrap_err() {
        DataError::Manifest {
            path,
            line,
            message,
        } => {
            assert_eq!(path, Path::new("/data/m.csv"));
            (line, message)
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn errors_name_the_file_and_the_line() {
    assert_eq!(manifest_error("image,label\na.png,0\nb.png,yes\n").0, 3);
    assert!(manifest_error("image,label\na.png,-1\n").1.contains("`-1`"));
    let (line, msg) = manifest_error("image,mask\na.png,b.png\n");
    assert_eq!(line, 1);
    assert!(msg.contains("`label`"), "{msg}");
    assert_eq!(manifest_error("image,label\na.png,0\nb.png,1,extra\n").0, 3);
    assert_eq!(manifest_error("image,label,split\na.png,0,holdout\n").0, 2);
    assert_eq!(manifest_error("image,label\n\"a\nb.png\",0\n,1\n").0, 4);
    assert_eq!(manifest_error("image,label,image\n").0, 1);
    assert_eq!(manifest_error("").0, 1);
    assert_eq!(manifest_error("image,label\n\"open,0\n").0, 2);
    let e = Manifest::parse("image,label\nx,zz\n", "/data/m.csv").unwrap_err();
    assert!(e.to_string().starts_with("/data/m.csv:2:"), "{e}");
    let e = Manifest::read("/definitely/not/here.csv").unwrap_err();
    assert!(matches!(e, DataError::Missing { .. }));
}

#[test]
fn an_image_listed_twice_is_an_error_naming_both_lines() {
    // contradicting labels, the second row on line 4
    let (line, msg) = manifest_error("image,label\na.png,0\nb.png,1\na.png,1\n");
    assert_eq!(line, 4);
    assert!(msg.contains("lines 2 and 4"), "{msg}");
    assert!(msg.contains("contradicting labels 0 and 1"), "{msg}");
    // the same file reached through another relative spelling is the same image
    let (line, msg) = manifest_error("image,label\nimg/a.png,1\n/data/img/a.png,1\n");
    assert_eq!(line, 3);
    assert!(msg.contains("label 1 both times"), "{msg}");
    // two different images with one name in different folders are fine
    let m = Manifest::parse("image,label\nx/a.png,0\ny/a.png,1\n", "/data/m.csv").unwrap();
    assert_eq!(m.samples.len(), 2);
}

#[test]
fn the_label_column_can_have_another_name() {
    let text = "image,mask,class,defect\nMT/a.jpg,MT/a.png,Blowhole,1\n";
    let opts = ManifestOptions {
        label_column: "defect".into(),
        ..ManifestOptions::default()
    };
    let m = Manifest::parse_with_options(text, "/d/labels.csv", &opts).unwrap();
    assert_eq!(m.samples[0].label, 1);
    assert_eq!(m.samples[0].mask.as_deref(), Some(Path::new("/d/MT/a.png")));
    assert!(Manifest::parse(text, "/d/labels.csv").is_err());
}

#[test]
fn write_then_read_gives_the_same_samples() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path();
    let samples = vec![
        Sample {
            image: base.join("images/odd, \"name\".png"),
            label: 1,
            mask: Some(base.join("masks/x.png")),
            split: Some(Split::Test),
            group: Some("g,1".into()),
        },
        Sample::new(base.join("b.png"), 0),
        Sample::new("/elsewhere/c.png", 3),
    ];
    let p = base.join("out.csv");
    Manifest::write(&p, &samples).unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.starts_with("image,label,mask,split,group\n"));
    assert!(text.contains("\"images/odd, \"\"name\"\".png\""), "{text}");
    assert_eq!(Manifest::read(&p).unwrap().samples, samples);
    assert!(!base.join("out.csv.partial").exists());
}
