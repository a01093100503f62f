//! CLI tests for the fixes found by testing the binary: non-UTF-8 names, `--cam-out` inside
//! the inputs, runs with nothing to process, empty files and links, `--max-files`, error texts.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use candle_core::{DType, Device};
use ceod_core::{CeodNet, ModelCard, ModelConfig, Preprocess, save_checkpoint};
use image::{GrayImage, Luma};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ceod-infer");

fn save_model(dir: &Path) -> PathBuf {
    let cfg = ModelConfig::ceodnet_s();
    let (net, _) = CeodNet::seeded(&cfg, 11, DType::F32, &Device::Cpu).unwrap();
    let pre = Preprocess {
        width: 64,
        height: 48,
        ..Preprocess::default()
    };
    let card = ModelCard::new(cfg, pre);
    let path = dir.join("m.safetensors");
    save_checkpoint(&path, &net, &card).unwrap();
    path
}

fn write_png(path: &Path, k: u32) {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    let img = GrayImage::from_fn(40, 30, |x, y| Luma([((x * 3 + y * k) % 250) as u8]));
    img.save(path).unwrap();
}

fn run(args: &[&std::ffi::OsStr], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

fn records(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[cfg(unix)]
#[test]
fn a_file_name_that_is_not_utf8_gets_a_lossy_record_and_the_run_goes_on() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let imgs = dir.path().join("imgs");
    write_png(&imgs.join("a.png"), 1);
    let bad = imgs.join(std::ffi::OsStr::from_bytes(b"bad\xff.png"));
    write_png(&imgs.join("tmp.png"), 2);
    std::fs::rename(imgs.join("tmp.png"), &bad).unwrap();
    write_png(&imgs.join("z.png"), 3);
    let model = save_model(dir.path());
    let out = run(&[os("-m"), model.as_os_str(), imgs.as_os_str()], None);
    let recs = records(&out);
    assert_eq!(recs.len(), 3, "{}", stderr(&out));
    let names: Vec<String> = recs
        .iter()
        .map(|r| {
            Path::new(r["path"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(names, ["a.png", "bad\u{fffd}.png", "z.png"]);
    for r in &recs {
        assert!(r.get("error").is_none(), "{r}");
    }
    assert_ne!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn the_cam_out_directory_is_never_an_input_of_a_walk_or_a_watch() {
    let dir = tempfile::tempdir().unwrap();
    let model = save_model(dir.path());
    // A directory input holding the --cam-out directory: the second run must not take the
    // overlays of the first.
    let imgs = dir.path().join("imgs");
    write_png(&imgs.join("a.png"), 1);
    write_png(&imgs.join("b.png"), 2);
    let cams = imgs.join("cams");
    for _ in 0..2 {
        let out = run(
            &[
                os("-m"),
                model.as_os_str(),
                os("--cam-out"),
                cams.as_os_str(),
                imgs.as_os_str(),
            ],
            None,
        );
        let recs = records(&out);
        let paths: Vec<&str> = recs.iter().map(|r| r["path"].as_str().unwrap()).collect();
        assert_eq!(
            paths,
            [imgs.join("a.png"), imgs.join("b.png")]
                .iter()
                .map(|p| p.to_str().unwrap())
                .collect::<Vec<_>>(),
            "{}",
            stderr(&out)
        );
    }
    // --cam-out inside --watch: each existing image once, no overlay of an overlay.
    let w2 = dir.path().join("w2");
    write_png(&w2.join("a.png"), 3);
    let cams2 = w2.join("cams");
    let out = run(
        &[
            os("-m"),
            model.as_os_str(),
            os("--watch"),
            w2.as_os_str(),
            os("--watch-existing"),
            os("--watch-interval-ms"),
            os("20"),
            os("--timeout"),
            os("1.5"),
            os("--cam-out"),
            cams2.as_os_str(),
            os("-vv"),
        ],
        None,
    );
    let recs = records(&out);
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0]["path"], w2.join("a.png").to_str().unwrap());
    let mut written: Vec<String> = std::fs::read_dir(&cams2)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(written, ["a.cam.npy", "a.cam_image.npy", "a.overlay.png"]);
    let err = stderr(&out);
    assert_eq!(err.matches("the --cam-out directory").count(), 1, "{err}");
}

#[test]
fn nothing_to_process_is_an_error_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let model = save_model(dir.path());
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join("notes.txt"), "not an image").unwrap();
    let cases: [(Vec<&std::ffi::OsStr>, Option<&str>); 3] = [
        (vec![os("-m"), model.as_os_str(), empty.as_os_str()], None),
        (vec![os("-m"), model.as_os_str(), os("-")], Some("")),
        (vec![os("-m"), model.as_os_str(), os("-")], Some("\n\n")),
    ];
    for (args, stdin) in cases {
        let out = run(&args, stdin);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty());
        assert!(
            stderr(&out).contains("nothing to process"),
            "{}",
            stderr(&out)
        );
    }
    // A directory with one image is fine (exit 0 or 1, one record).
    write_png(&empty.join("a.png"), 1);
    let out = run(&[os("-m"), model.as_os_str(), empty.as_os_str()], None);
    assert_eq!(records(&out).len(), 1);
    assert_ne!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[cfg(unix)]
#[test]
fn empty_files_in_a_watch_and_dangling_links_in_a_walk_get_error_records() {
    let dir = tempfile::tempdir().unwrap();
    let model = save_model(dir.path());
    let imgs = dir.path().join("imgs");
    write_png(&imgs.join("a.png"), 1);
    std::os::unix::fs::symlink(dir.path().join("missing.png"), imgs.join("gone.png")).unwrap();
    write_png(&dir.path().join("other/b.png"), 2);
    std::os::unix::fs::symlink(dir.path().join("other"), imgs.join("linked")).unwrap();
    let out = run(
        &[os("-m"), model.as_os_str(), os("-v"), imgs.as_os_str()],
        None,
    );
    let recs = records(&out);
    assert_eq!(recs.len(), 2, "{recs:?}");
    assert_eq!(recs[0]["path"], imgs.join("a.png").to_str().unwrap());
    assert!(recs[0].get("error").is_none());
    assert_eq!(recs[1]["path"], imgs.join("gone.png").to_str().unwrap());
    assert_eq!(recs[1]["decision"], "error");
    assert!(
        recs[1]["error"].as_str().unwrap().contains("dangling"),
        "{}",
        recs[1]
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("not followed"), "{err}");
    assert!(err.contains("linked"), "{err}");

    // A zero-byte file that stays empty in a watched directory.
    let w = dir.path().join("w");
    std::fs::create_dir(&w).unwrap();
    std::fs::File::create(w.join("zero.png")).unwrap();
    let out = run(
        &[
            os("-m"),
            model.as_os_str(),
            os("--watch"),
            w.as_os_str(),
            os("--watch-existing"),
            os("--watch-interval-ms"),
            os("20"),
            os("--timeout"),
            os("1"),
        ],
        None,
    );
    let recs = records(&out);
    assert_eq!(recs.len(), 1, "{}", stderr(&out));
    assert_eq!(recs[0]["path"], w.join("zero.png").to_str().unwrap());
    assert_eq!(recs[0]["decision"], "error");
    assert_eq!(recs[0]["error"], "empty file");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn max_files_cutting_the_inputs_short_warns_how_many_were_left() {
    let dir = tempfile::tempdir().unwrap();
    let model = save_model(dir.path());
    let imgs = dir.path().join("imgs");
    for k in 0..5 {
        write_png(&imgs.join(format!("i{k}.png")), k);
    }
    let extra = dir.path().join("extra.png");
    write_png(&extra, 9);
    let out = run(
        &[
            os("-m"),
            model.as_os_str(),
            os("--max-files"),
            os("2"),
            imgs.as_os_str(),
            extra.as_os_str(),
        ],
        None,
    );
    assert_eq!(records(&out).len(), 2);
    let err = stderr(&out);
    // 3 left in the directory + the extra file.
    assert!(
        err.contains("--max-files 2 reached: 4 inputs were not processed"),
        "{err}"
    );
    // Exactly as many as given: no warning.
    let out = run(
        &[
            os("-m"),
            model.as_os_str(),
            os("--max-files"),
            os("6"),
            imgs.as_os_str(),
            extra.as_os_str(),
        ],
        None,
    );
    assert_eq!(records(&out).len(), 6);
    assert!(!stderr(&out).contains("not processed"), "{}", stderr(&out));
}

#[test]
fn error_texts_do_not_repeat_themselves_and_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let model = save_model(dir.path());
    let w = dir.path().join("w");
    std::fs::create_dir(&w).unwrap();
    std::fs::write(w.join("c.png"), b"hello").unwrap();
    // A JPEG cut off after its headers, and one cut off in its header.
    let mut jpeg = Vec::new();
    image::DynamicImage::ImageLuma8(GrayImage::from_fn(32, 32, |x, y| Luma([(x * y) as u8])))
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    std::fs::write(w.join("d.jpg"), &jpeg[..jpeg.len() / 2]).unwrap();
    std::fs::write(w.join("e.jpg"), &jpeg[..20]).unwrap();
    std::fs::write(w.join("f.png"), [0x89, b'P', b'N', b'G']).unwrap();
    for format in ["json", "csv", "text"] {
        let out = run(
            &[
                os("-m"),
                model.as_os_str(),
                os("--format"),
                os(format),
                w.as_os_str(),
            ],
            None,
        );
        let text = String::from_utf8(out.stdout.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let header = usize::from(format == "csv");
        assert_eq!(lines.len(), 4 + header, "{format}: {text:?}");
        for l in &lines[header..] {
            assert!(!l.contains('\r'), "{l:?}");
            let tail = l.rsplit_once(',').map_or(*l, |(_, t)| t);
            assert_eq!(tail, tail.trim_end(), "{l:?}");
            assert!(!l.ends_with(' '), "{l:?}");
            let parts: Vec<&str> = l.split(": ").collect();
            for pair in parts.windows(2) {
                assert_ne!(
                    pair[0].trim_matches(['"', ' ']),
                    pair[1].trim_matches(['"', ' ']),
                    "{l:?}"
                );
            }
        }
    }
    // A text line names the file once.
    let out = run(
        &[
            os("-m"),
            model.as_os_str(),
            os("--format"),
            os("text"),
            w.as_os_str(),
        ],
        None,
    );
    for l in String::from_utf8(out.stdout).unwrap().lines() {
        assert_eq!(l.matches(w.to_str().unwrap()).count(), 1, "{l}");
    }
    // The record names the file once.
    let out = run(&[os("-m"), model.as_os_str(), w.as_os_str()], None);
    let recs = records(&out);
    assert_eq!(recs.iter().filter(|r| r.get("error").is_some()).count(), 3);
    for r in recs.iter().filter(|r| r.get("error").is_some()) {
        let e = r["error"].as_str().unwrap();
        let name = Path::new(r["path"].as_str().unwrap())
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(e.matches(&name).count() <= 1, "{e}");
        assert_eq!(e, e.trim(), "{e:?}");
        assert!(!e.contains('\n'), "{e:?}");
    }
}
