//! Accounts: the `cordial` command line against a running server (admin socket) and without
//! one, in-band registration (XEP-0077), and what is stored for a password.

mod common;

use std::process::Command;

use common::*;
use minidom::Element;

fn cordial(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cordial"))
        .args(args)
        .output()
        .expect("cordial runs")
}

/// The command line run from inside a test whose runtime also serves the in-process server,
/// so it must not block that runtime.
async fn cordial_async(args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_cordial"))
        .args(args)
        .output()
        .await
        .expect("cordial runs")
}

/// `cordial adduser/passwd/deluser/users` talk to the running server over the admin socket.
#[actix_rt::test]
async fn cli_account_commands_work_while_the_server_runs() {
    let s = TestServer::start().await;
    let dir = s.dir.path().to_str().unwrap().to_string();
    // Only the server's user may talk to the admin socket.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(s.dir.path().join("admin.sock"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "admin socket mode {mode:o}");
    let out = cordial_async(&[
        "adduser",
        "carol@localhost",
        "--password",
        "first",
        "--data-dir",
        &dir,
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cordial_async(&[
        "adduser",
        "carol@localhost",
        "--password",
        "again",
        "--data-dir",
        &dir,
    ])
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = cordial_async(&[
        "adduser",
        "dave@elsewhere.example",
        "--password",
        "x",
        "--data-dir",
        &dir,
    ])
    .await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a domain this server hosts"));

    let mut carol = s.online("carol", "first", "r", 0).await;
    let out = cordial_async(&["users", "--data-dir", &dir]).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "carol@localhost"
    );

    let out = cordial_async(&[
        "passwd",
        "carol@localhost",
        "--password",
        "second",
        "--data-dir",
        &dir,
    ])
    .await;
    assert!(out.status.success());
    let mut c = Client::connect(s.addr()).await;
    c.negotiate_tls().await;
    assert!(
        !c.auth_scram("carol", "first", "SCRAM-SHA-256").await,
        "the old password no longer works"
    );
    assert!(c.auth_scram("carol", "second", "SCRAM-SHA-256").await);

    // Deleting the account closes its sessions.
    let out = cordial_async(&["deluser", "carol@localhost", "--data-dir", &dir]).await;
    assert!(out.status.success());
    assert_eq!(carol.expect_stream_error().await, "not-authorized");
    let mut c = Client::connect(s.addr()).await;
    c.negotiate_tls().await;
    assert!(!c.auth_scram("carol", "second", "SCRAM-SHA-256").await);
}

/// The admin socket is an option of the builder (`cordial serve` and the tests' servers turn it
/// on): a server embedded with the defaults binds none.
#[actix_rt::test]
async fn an_embedded_server_binds_no_admin_socket_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = cordial::config::Config {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    config.c2s.listen = cordial::config::Listen(Some("127.0.0.1:0".parse().unwrap()));
    config.c2s.tls_listen = cordial::config::Listen(None);
    config.web.listen = cordial::config::Listen(None);
    config.s2s.listen = cordial::config::Listen(None);
    let server = cordial::Server::new(config).start().await.unwrap();
    assert!(!dir.path().join("admin.sock").exists());
    server.stop().await;
}

/// Without a running server the command line opens the database itself.
#[test]
fn cli_works_without_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    assert!(cordial(&[
        "adduser",
        "erin@localhost",
        "--password",
        "pw",
        "--data-dir",
        d
    ])
    .status
    .success());
    let out = cordial(&["users", "--data-dir", d]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "erin@localhost"
    );
    assert!(cordial(&["deluser", "erin@localhost", "--data-dir", d])
        .status
        .success());
    let out = cordial(&["deluser", "erin@localhost", "--data-dir", d]);
    assert!(!out.status.success());
}

/// A bad config value is a clear error naming the key and the accepted values, exit code 2.
#[test]
fn cli_bad_config_names_the_key_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cordial.toml");
    std::fs::write(&cfg, "[limits]\noffline_quota = -3\n").unwrap();
    let out = cordial(&["serve", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("offline_quota"), "{err}");

    std::fs::write(&cfg, "[auth]\nscram_iterations = 10\n").unwrap();
    let out = cordial(&["serve", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("auth.scram_iterations") && err.contains("4096"),
        "{err}"
    );

    let out = cordial(&["serve", "--c2s-listen", "not-an-address"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--c2s-listen"));
}

/// Only salted SCRAM keys are stored: never the password, nor anything that contains it.
#[actix_rt::test]
async fn passwords_are_stored_only_as_salted_scram_keys() {
    let s = TestServer::start().await;
    s.add_user("alice", "very-secret-pw").await;
    let creds = s
        .handle()
        .storage()
        .credentials("alice@localhost")
        .unwrap()
        .unwrap();
    assert!(creds.sha256.iterations >= 4096 && creds.sha1.iterations >= 4096);
    assert_eq!(creds.sha256.salt.len(), 16);
    let dump = serde_json::to_string(&creds).unwrap();
    assert!(!dump.contains("very-secret-pw"));
    s.add_user("bob", "very-secret-pw").await;
    let other = s
        .handle()
        .storage()
        .credentials("bob@localhost")
        .unwrap()
        .unwrap();
    assert_ne!(
        other.sha256.stored_key, creds.sha256.stored_key,
        "salts differ per account"
    );
}

/// XEP-0077: registration before login (when enabled, over TLS), password change and
/// cancellation after.
#[actix_rt::test]
async fn xep0077_in_band_registration() {
    let s = TestServer::start_with(|c| c.auth.registration = true).await;
    s.add_user("taken", "pw").await;
    let mut c = Client::connect(s.addr()).await;
    let f = c.open().await;
    assert!(
        f.get_child("register", "http://jabber.org/features/iq-register")
            .is_none(),
        "not offered before TLS"
    );
    c.starttls().await;
    assert!(c
        .features
        .as_ref()
        .unwrap()
        .get_child("register", "http://jabber.org/features/iq-register")
        .is_some());
    let r = c
        .iq("get", None, "<query xmlns='jabber:iq:register'/>")
        .await;
    assert!(r
        .get_child("query", "jabber:iq:register")
        .unwrap()
        .has_child("password", "jabber:iq:register"));
    let r = c.iq("set", None, "<query xmlns='jabber:iq:register'><username>taken</username><password>x</password></query>").await;
    assert_eq!(error_condition(&r).as_deref(), Some("conflict"));
    let r = c.iq("set", None, "<query xmlns='jabber:iq:register'><username>newbie</username><password>pw1</password></query>").await;
    assert_eq!(r.attr("type"), Some("result"));
    assert!(c.auth_scram("newbie", "pw1", "SCRAM-SHA-256").await);
    c.restart().await;
    c.bind(Some("r")).await;
    let r = c.iq("set", None, "<query xmlns='jabber:iq:register'><username>newbie</username><password>pw2</password></query>").await;
    assert_eq!(r.attr("type"), Some("result"));
    let mut n = s.online("newbie", "pw2", "r2", 0).await;
    let r = n
        .iq(
            "set",
            None,
            "<query xmlns='jabber:iq:register'><remove/></query>",
        )
        .await;
    assert_eq!(r.attr("type"), Some("result"));
    assert_eq!(n.expect_stream_error().await, "not-authorized");
    assert!(!s
        .handle()
        .storage()
        .account_exists("newbie@localhost")
        .unwrap());
}

/// With registration off (the default) a registration attempt before login is a stanza before
/// authentication: `<not-authorized/>`.
#[actix_rt::test]
async fn xep0077_registration_is_off_by_default() {
    let s = TestServer::start().await;
    let mut c = Client::connect(s.addr()).await;
    c.negotiate_tls().await;
    c.send("<iq type='set' id='r1'><query xmlns='jabber:iq:register'><username>x</username><password>y</password></query></iq>").await;
    assert_eq!(c.expect_stream_error().await, "not-authorized");
}

/// Deleting an account (as `cordial deluser` and XEP-0077 `<remove/>` do) leaves nothing for
/// the next owner of the JID: stanzas sent to it right after the deletion, while its actor
/// would still be running, are answered as for a missing account (RFC 6121 §8.5.1) and never
/// stored; whoever registers the JID again starts with no offline messages, an empty roster,
/// no privacy lists, no blocklist and no vCard.
#[actix_rt::test]
async fn a_deleted_account_leaves_nothing_to_the_next_owner_of_its_jid() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "old").await;
    let mut alice = s.online("alice", "pw", "r", 0).await;
    let mut bob = s.online("bob", "old", "r", 0).await;
    alice
        .iq("get", None, "<query xmlns='jabber:iq:roster'/>")
        .await;
    bob.iq("get", None, "<query xmlns='jabber:iq:roster'/>")
        .await;
    subscribe(&mut alice, "alice@localhost", &mut bob, "bob@localhost").await;
    let r = bob
        .iq(
            "set",
            None,
            "<block xmlns='urn:xmpp:blocking'><item jid='eve@localhost'/></block>",
        )
        .await;
    assert_eq!(r.attr("type"), Some("result"));
    let r = bob
        .iq(
            "set",
            None,
            "<vCard xmlns='vcard-temp'><FN>Old Bob</FN></vCard>",
        )
        .await;
    assert_eq!(r.attr("type"), Some("result"));
    // The block created bob's default list: its XEP-0016 push, and nothing else.
    gather_exactly(
        &mut bob,
        &[&|e: &Element| {
            e.name() == "iq"
                && e.attr("type") == Some("set")
                && e.get_child("query", "jabber:iq:privacy").is_some()
        }],
    )
    .await;
    alice.expect_quiet().await;

    let bare = jid::BareJid::new("bob@localhost").unwrap();
    assert!(s.handle().delete_user(&bare).await.unwrap());
    assert_eq!(bob.expect_stream_error().await, "not-authorized");
    // Alice's subscription to bob is cancelled: her item goes to "none", and bob is gone.
    gather_exactly(
        &mut alice,
        &[
            &|e: &Element| push_of("bob@localhost")(e) && sub(e) == ("none", None),
            &presence("unsubscribed", "bob@localhost"),
            &presence("unavailable", "bob@localhost/r"),
        ],
    )
    .await;

    // Right after the deletion: a message and an iq are answered <service-unavailable/>, a
    // subscription request `unsubscribed`; nothing is stored.
    alice
        .send(
            "<message to='bob@localhost' type='chat' id='m1'><body>are you there?</body></message>",
        )
        .await;
    let e = alice.expect_where(|e| e.attr("id") == Some("m1")).await;
    assert_eq!(error_condition(&e).as_deref(), Some("service-unavailable"));
    let r = alice
        .iq(
            "get",
            Some("bob@localhost"),
            "<query xmlns='http://jabber.org/protocol/disco#info'/>",
        )
        .await;
    assert_eq!(error_condition(&r).as_deref(), Some("service-unavailable"));
    alice
        .send("<presence to='bob@localhost' type='subscribe'/>")
        .await;
    gather_exactly(
        &mut alice,
        &[
            &|e: &Element| push_of("bob@localhost")(e) && sub(e).1 == Some("subscribe"),
            &presence("unsubscribed", "bob@localhost"),
            &|e: &Element| push_of("bob@localhost")(e) && sub(e) == ("none", None),
        ],
    )
    .await;

    // The JID is registered again by someone else.
    s.add_user("bob", "new").await;
    let mut new = s.login("bob", "new", "r").await;
    let roster = new
        .iq("get", None, "<query xmlns='jabber:iq:roster'/>")
        .await;
    assert_eq!(
        roster
            .get_child("query", "jabber:iq:roster")
            .unwrap()
            .children()
            .count(),
        0,
        "{}",
        String::from(&roster)
    );
    let lists = new
        .iq("get", None, "<query xmlns='jabber:iq:privacy'/>")
        .await;
    let q = lists.get_child("query", "jabber:iq:privacy").unwrap();
    assert!(
        q.children()
            .all(|c| c.name() != "list" && c.attr("name").is_none()),
        "{}",
        String::from(&lists)
    );
    let blocklist = new
        .iq("get", None, "<blocklist xmlns='urn:xmpp:blocking'/>")
        .await;
    assert_eq!(
        blocklist
            .get_child("blocklist", "urn:xmpp:blocking")
            .unwrap()
            .children()
            .count(),
        0
    );
    let vcard = new.iq("get", None, "<vCard xmlns='vcard-temp'/>").await;
    assert!(
        vcard
            .get_child("vCard", "vcard-temp")
            .is_none_or(|v| v.children().count() == 0),
        "{}",
        String::from(&vcard)
    );
    // Initial presence brings only its own reflection: no offline message, no request.
    new.send("<presence/>").await;
    let got = new.until_ping().await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].attr("from"), Some("bob@localhost/r"));
}
