//! The real server on loopback TLS: it generates its certificate on first
//! start and reports the SPKI pin; a client that pins that hash connects,
//! one with another pin is refused; a configured certificate also works.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use clinshare_server::serve::{self, ServeOptions, Transport};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Accepts exactly the certificate whose SubjectPublicKeyInfo hashes to the
/// pin, as the app does after enrolment (no CA involved); signatures are
/// still checked.
#[derive(Debug)]
struct PinVerifier {
    pin: String,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match clinshare_server::tls::spki_pin(end_entity) {
            Some(p) if p == self.pin => Ok(ServerCertVerified::assertion()),
            _ => Err(rustls::Error::General(
                "server key does not match the pin".into(),
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

async fn start(
    data_dir: &Path,
    cert: Option<(std::path::PathBuf, std::path::PathBuf)>,
) -> (SocketAddr, String) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let opts = ServeOptions {
        pacs_config: None,
        data_dir: data_dir.to_path_buf(),
        database: None,
        blob_store: None,
        listen: "127.0.0.1:0".parse().expect("addr"),
        transport: Transport::Tls { cert },
        config: common::test_config(),
    };
    tokio::spawn(async move {
        let result = serve::run(opts, move |addr, pin| {
            let _ = tx.send((addr, pin.map(str::to_owned).unwrap_or_default()));
        })
        .await;
        if let Err(e) = result {
            panic!("server stopped: {e}");
        }
    });
    rx.await.expect("server ready")
}

async fn get_health(addr: SocketAddr, pin: &str) -> Result<String, std::io::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinVerifier {
            pin: pin.to_owned(),
            provider,
        }))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").map_err(std::io::Error::other)?;
    let mut tls = connector.connect(name, tcp).await?;
    tls.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut response = String::new();
    tls.read_to_string(&mut response).await?;
    Ok(response)
}

#[tokio::test]
async fn a_client_pinning_the_generated_key_connects_and_another_pin_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (addr, pin) = start(dir.path(), None).await;
    assert_eq!(pin.len(), 64, "hex SHA-256");
    assert!(dir.path().join("tls/cert.pem").exists());

    let response = get_health(addr, &pin).await.expect("pinned connection");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"status\":\"ready\""), "{response}");

    let wrong = "0".repeat(64);
    assert!(get_health(addr, &wrong).await.is_err());

    // Plain HTTP to the TLS port gets no HTTP answer.
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("tcp");
    tcp.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = Vec::new();
    let _ = tcp.read_to_end(&mut buf).await;
    assert!(!String::from_utf8_lossy(&buf).contains("\"ready\""));
}

#[tokio::test]
async fn a_configured_certificate_is_served_with_its_own_pin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let cert = dir.path().join("mine.crt");
    let key = dir.path().join("mine.key");
    std::fs::write(&cert, generated.cert.pem()).expect("write");
    std::fs::write(&key, generated.key_pair.serialize_pem()).expect("write");
    let expected = clinshare_server::tls::spki_pin(generated.cert.der()).expect("pin");

    let data = dir.path().join("data");
    let (addr, pin) = start(&data, Some((cert, key))).await;
    assert_eq!(pin, expected);
    assert!(!data.join("tls/cert.pem").exists(), "nothing generated");
    let response = get_health(addr, &pin).await.expect("pinned connection");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}
