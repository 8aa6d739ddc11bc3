//! Printing results and failures, and the exit status contract:
//! 0 success, 1 refused or rejected input, 2 internal or environment error.

use std::process::ExitCode;

use clinshare_core::{ErrorClass, ErrorCode};
use serde_json::json;

use crate::context::Context;

/// A command's successful result, in both shapes.
pub struct Report {
    pub text: String,
    pub json: serde_json::Value,
}

/// A command's failure: stable code, message for people, exit class.
#[derive(Debug)]
pub struct Failure {
    pub code: &'static str,
    pub message: String,
    pub class: ErrorClass,
}

impl Failure {
    pub fn refused(code: &'static str, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
            class: ErrorClass::Refused,
        }
    }
}

impl<E: ErrorCode> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure {
            code: e.code(),
            message: e.to_string(),
            class: e.class(),
        }
    }
}

pub fn finish(ctx: &Context, result: Result<Report, Failure>) -> ExitCode {
    match result {
        Ok(report) => {
            if ctx.json {
                println!("{}", report.json);
            } else {
                print!("{}", report.text);
            }
            ExitCode::SUCCESS
        }
        Err(failure) => {
            if ctx.json {
                println!(
                    "{}",
                    json!({"error": {"code": failure.code, "message": failure.message}})
                );
            }
            eprintln!("error: {} [{}]", failure.message, failure.code);
            ExitCode::from(failure.class.exit_status())
        }
    }
}
