//! `tiejun leads import` as an operator runs it: the binary, a spreadsheet
//! export in UTF-8 with a byte-order mark and Chinese headings, another in
//! GB18030, through the gateway of a running suite; its summary, its
//! rejects file, and the leads as the service then holds them.

mod common;

use std::{path::Path, process::Command, time::Duration};

use tiejun::{cli::UpArgs, suite};
use tiejun_proto::leads::v1::{ListLeadsRequest, lead_service_client::LeadServiceClient};
use tokio_util::sync::CancellationToken;
use tonic::Request;

/// Runs `tiejun leads import FILE` against `gateway`; (exit ok, stdout, stderr).
fn import(gateway: std::net::SocketAddr, token: &str, file: &Path, extra: &[&str]) -> (bool, String, String) {
    let out = Command::new(common::BIN)
        .args(["leads", "import"])
        .arg(file)
        .args(["--target", &format!("http://{gateway}"), "--token", token])
        .args(extra)
        .env_remove("TIEJUN_JWT_SECRET")
        .output()
        .expect("tiejun runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The rejects file's rows (without its byte-order mark), each as cells.
fn rejects(path: &Path) -> Vec<Vec<String>> {
    let bytes = std::fs::read(path).expect("a rejects file");
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with a byte-order mark");
    csv::Reader::from_reader(&bytes[3..])
        .records()
        .map(|r| r.expect("record").iter().map(str::to_owned).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spreadsheet_in_utf8_with_a_mark_and_one_in_gb18030_import_with_their_rejects_explained() {
    let dir = tempfile::tempdir().expect("tmp");
    let args = UpArgs::local(dir.path().join("data"));
    let stop = CancellationToken::new();
    let running = suite::start(&args, stop.clone()).await.expect("the suite starts");

    // Chinese Excel's "CSV UTF-8": a byte-order mark, Chinese headings, a
    // duplicate, a phone the service refuses, a score that is not a number,
    // and the blank line spreadsheets leave at the end.
    let first = dir.path().join("线索.csv");
    let text = "公司名称,联系人,手机,城市,评分\n\
                杭州丝绸有限公司,王经理,13900000001,杭州,80\n\
                宁波五金有限公司,李经理,13900000002,宁波,\n\
                杭州丝绸有限公司,王经理,13900000001,杭州,80\n\
                义乌小商品有限公司,张经理,12,义乌,60\n\
                温州鞋业有限公司,陈经理,13900000005,温州,高\n\
                ,,,,\n";
    std::fs::write(&first, [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat()).expect("write");
    let (ok, stdout, stderr) = import(running.gateway, &running.token, &first, &[]);
    assert!(ok, "import failed: {stderr}");
    assert!(
        stdout.contains("5 rows (UTF-8)") && stdout.contains("2 created, 1 duplicate, 2 invalid"),
        "{stdout}"
    );
    let rejected = dir.path().join("线索.rejects.csv");
    assert!(stdout.contains(&rejected.display().to_string()), "{stdout}");
    let rows = rejects(&rejected);
    let by_row: Vec<(&str, &str)> = rows.iter().map(|r| (r[0].as_str(), r[6].as_str())).collect();
    assert_eq!(
        by_row,
        [
            ("4", "ALREADY_EXISTS"),
            ("5", "INVALID_ARGUMENT"),
            ("6", "INVALID_ARGUMENT")
        ],
        "each refused row by its spreadsheet row number: {rows:?}"
    );
    assert_eq!(rows[0][1], "杭州丝绸有限公司", "the row as it was read");
    assert!(!rows[0][8].is_empty(), "a duplicate names the existing lead: {rows:?}");
    assert!(rows[1][7].contains("phone"), "the reason names the field: {rows:?}");
    assert!(rows[2][7].contains("score"), "{rows:?}");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&rejected).expect("meta").permissions());
    assert_eq!(mode & 0o777, 0o600, "contact data: the owner's alone");

    // Chinese Excel's plain "CSV": GB18030, English headings and a column
    // the pool does not know; one row duplicates a lead of the first file.
    let second = dir.path().join("export.csv");
    let text = "company_name,contact_name,phone,city,source,备注\n\
                绍兴纺织有限公司,赵经理,13900000011,绍兴,广交会,老客户介绍\n\
                宁波五金有限公司,李经理,13900000002,宁波,官网,\n\
                嘉兴电子有限公司,孙经理,13900000013,嘉兴,官网,\n";
    let (gb, _, unmappable) = encoding_rs::GB18030.encode(text);
    assert!(!unmappable);
    std::fs::write(&second, &gb).expect("write");
    let (ok, stdout, stderr) = import(running.gateway, &running.token, &second, &["--batch", "2"]);
    assert!(ok, "import failed: {stderr}");
    assert!(
        stdout.contains("3 rows (gb18030)")
            && stdout.contains("2 created, 1 duplicate, 0 invalid")
            && stdout.contains("ignored columns: 备注"),
        "{stdout}"
    );
    let rows = rejects(&dir.path().join("export.rejects.csv"));
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0][0].as_str(), rows[0][1].as_str()), ("3", "宁波五金有限公司"));

    // The pool holds the leads with their names read right.
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", running.gateway))
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let mut request = Request::new(ListLeadsRequest {
        page_size: 50,
        ..Default::default()
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", running.token).parse().expect("header"),
    );
    let leads = LeadServiceClient::new(channel)
        .list_leads(request)
        .await
        .expect("list")
        .into_inner()
        .leads;
    let mut names: Vec<&str> = leads.iter().map(|l| l.company_name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "嘉兴电子有限公司",
            "宁波五金有限公司",
            "杭州丝绸有限公司",
            "绍兴纺织有限公司"
        ]
    );

    // A file without a required column is refused before anything is sent.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "company_name,city\nA,B\n").expect("write");
    let (ok, _, stderr) = import(running.gateway, &running.token, &bad, &[]);
    assert!(!ok && stderr.contains("contact_name, phone"), "{stderr}");

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(30), running.wait())
        .await
        .expect("stops in time")
        .expect("stops cleanly");
}
