//! An actix-web app of its own (a home page, a JSON route) with cordial embedded: XMPP over
//! WebSocket at `/xmpp-websocket`, XEP-0156 discovery, and TCP clients on the usual port, all
//! served by the same actors. With `--static DIR`, DIR is served at `/chat/` (the browser test
//! puts converse.js there).
//!
//! ```sh
//! cargo run --example actix_web_app -- --user alice:secret --user bob:secret
//! # then: ws://127.0.0.1:8080/xmpp-websocket, or any XMPP client on 127.0.0.1:5222
//! ```
//!
//! Options: `--listen IP:PORT` (HTTP, default 127.0.0.1:8080), `--c2s IP:PORT` (TCP clients,
//! default 127.0.0.1:5222, "off" for none), `--data-dir DIR` (default ./example-data),
//! `--user NAME:PASSWORD` (creates the account at localhost if missing; repeatable),
//! `--static DIR`.

use actix_web::{web, App, HttpResponse, HttpServer};
use cordial::config::{Config, Listen};

struct Options {
    listen: String,
    c2s: String,
    data_dir: String,
    users: Vec<(String, String)>,
    static_dir: Option<String>,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        listen: "127.0.0.1:8080".into(),
        c2s: "127.0.0.1:5222".into(),
        data_dir: "./example-data".into(),
        users: Vec::new(),
        static_dir: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => o.listen = value,
            "--c2s" => o.c2s = value,
            "--data-dir" => o.data_dir = value,
            "--static" => o.static_dir = Some(value),
            "--user" => {
                let (name, password) = value.split_once(':').ok_or("--user takes NAME:PASSWORD")?;
                o.users.push((name.into(), password.into()));
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(o)
}

async fn home() -> HttpResponse {
    HttpResponse::Ok().content_type("text/html").body(
        "<!doctype html><title>My app</title><h1>My app</h1>\
         <p>This app embeds an XMPP server: <code>ws://…/xmpp-websocket</code>.</p>",
    )
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let o = options().map_err(std::io::Error::other)?;

    // cordial's configuration from code: the app serves the HTTP endpoints itself, so cordial's
    // own HTTP listener is off.
    let mut config = Config {
        data_dir: o.data_dir.into(),
        ..Config::default()
    };
    config.web.listen = Listen(None);
    config.c2s.listen = Listen::parse(&o.c2s)
        .ok_or("--c2s: IP:PORT or off")
        .map_err(std::io::Error::other)?;
    config.c2s.tls_listen = Listen(None);
    // No federation listener: several of these may run side by side.
    config.s2s.listen = Listen(None);
    let server = cordial::Server::new(config)
        .start()
        .await
        .map_err(std::io::Error::other)?;
    for (name, password) in &o.users {
        let jid = jid::BareJid::new(&format!("{name}@localhost")).map_err(std::io::Error::other)?;
        server
            .add_user(&jid, password)
            .await
            .map_err(std::io::Error::other)?;
    }

    // The embedding: one line in the app factory.
    let xmpp = server.web();
    let static_dir = o.static_dir.clone();
    let http = HttpServer::new(move || {
        let mut app = App::new()
            .configure(cordial::web::configure(&xmpp))
            .route("/", web::get().to(home))
            .route(
                "/api/hello",
                web::get().to(|| async {
                    HttpResponse::Ok().json(serde_json::json!({"hello": "world"}))
                }),
            );
        if let Some(dir) = &static_dir {
            app = app.service(actix_files::Files::new("/chat", dir).index_file("index.html"));
        }
        app
    })
    // XMPP stanzas are small: without this, Nagle's algorithm and delayed ACKs hold each one
    // back by milliseconds.
    .tcp_nodelay(true)
    .bind(&o.listen)?
    .run();
    log::info!(
        "app on http://{}/ with XMPP over WebSocket at /xmpp-websocket",
        o.listen
    );
    let result = http.await;
    server.stop().await;
    result
}
