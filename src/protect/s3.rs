//! S3-compatible store (AWS, MinIO, R2, B2, Ceph): custom endpoint, path-style addressing,
//! static credentials, and no default request checksums (several S3-compatible stores
//! reject them). Uploads stream as multipart: one part in flight while the next fills.

use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use bytes::Bytes;
use futures::stream::{self, BoxStream};
use futures::StreamExt;
use tokio::sync::mpsc;

use super::error::ProtectError;
use super::store::{ObjectMeta, ObjectStore};

/// Size of one multipart part (S3's minimum is 5 MiB).
/// The first parts are S3's minimum size (memory is what a backup holds per part in
/// flight); every 1000 parts the size doubles, so the 10,000-part limit is never reached
/// before ~5 TiB.
pub const PART: usize = 5 << 20;

fn part_size(number: usize) -> usize {
    PART << (number / 1000).min(10)
}

/// A part fills until it reaches its size, so it can overshoot by one pipeline chunk; sized
/// for that up front, a Vec never doubles on the last append.
fn part_buffer(number: usize) -> Vec<u8> {
    Vec::with_capacity(part_size(number) + super::pipeline::CHUNK)
}

/// Connection settings of an S3 store.
#[derive(Clone)]
pub struct S3Settings {
    pub bucket: String,
    pub prefix: String,
    pub endpoint: Option<String>,
    pub region: String,
    pub path_style: bool,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// An S3 bucket (and key prefix) as the store.
#[derive(Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
    endpoint: Option<String>,
}

impl S3Store {
    pub fn new(s: S3Settings) -> Self {
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(s.region.clone()))
            .credentials_provider(Credentials::new(
                s.access_key_id,
                s.secret_access_key,
                None,
                None,
                "appstack",
            ))
            .force_path_style(s.path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(ep) = &s.endpoint {
            config = config.endpoint_url(ep);
        }
        Self {
            client: Client::from_conf(config.build()),
            bucket: s.bucket,
            prefix: s.prefix.trim_matches('/').to_string(),
            endpoint: s.endpoint,
        }
    }

    fn full(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    fn err(&self, what: &str, e: impl std::fmt::Display) -> ProtectError {
        ProtectError::Store {
            location: self.location(),
            message: format!("{what}: {e}"),
        }
    }

    /// One part's upload as a task of its own (it outlives the borrow of `self`).
    fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        data: Vec<u8>,
    ) -> impl std::future::Future<Output = Result<CompletedPart, ProtectError>> + Send + 'static
    {
        let request = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(data));
        let this = self.clone();
        async move {
            let part = request
                .send()
                .await
                .map_err(|e| this.err("upload part", DisplayErrorContext(&e)))?;
            Ok(CompletedPart::builder()
                .part_number(number)
                .set_e_tag(part.e_tag().map(String::from))
                .build())
        }
    }

    async fn joined(
        &self,
        task: tokio::task::JoinHandle<Result<CompletedPart, ProtectError>>,
    ) -> Result<CompletedPart, ProtectError> {
        task.await
            .map_err(|e| self.err("upload part", e))
            .and_then(|r| r)
    }

    async fn put_multipart(
        &self,
        key: &str,
        first: Vec<u8>,
        body: &mut mpsc::Receiver<Bytes>,
    ) -> Result<u64, ProtectError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.err("create multipart upload", DisplayErrorContext(&e)))?;
        let upload_id = created.upload_id().unwrap_or_default().to_string();
        // One part uploads while the next fills: the pipeline upstream keeps compressing
        // instead of stalling for every request's round trip.
        let mut in_flight: Option<tokio::task::JoinHandle<Result<CompletedPart, ProtectError>>> =
            None;
        let result = async {
            let mut parts = Vec::new();
            let mut total = 0u64;
            let mut buf = first;
            let mut done = false;
            let mut number = 0i32;
            while !done {
                while buf.len() < part_size(number as usize) {
                    match body.recv().await {
                        Some(chunk) => buf.extend_from_slice(&chunk),
                        None => {
                            done = true;
                            break;
                        }
                    }
                }
                if buf.is_empty() {
                    break;
                }
                number += 1;
                total += buf.len() as u64;
                let data = std::mem::replace(&mut buf, part_buffer(number as usize));
                if let Some(previous) = in_flight.take() {
                    parts.push(self.joined(previous).await?);
                }
                in_flight = Some(tokio::spawn(
                    self.upload_part(key, &upload_id, number, data),
                ));
            }
            if let Some(last) = in_flight.take() {
                parts.push(self.joined(last).await?);
            }
            self.client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| self.err("complete multipart upload", DisplayErrorContext(&e)))?;
            Ok(total)
        }
        .await;
        if result.is_err() {
            if let Some(h) = in_flight {
                h.abort();
            }
            // Never leave invisible parts accruing storage.
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }
}

impl ObjectStore for S3Store {
    fn location(&self) -> String {
        let base = format!("s3://{}/{}", self.bucket, self.prefix);
        match &self.endpoint {
            Some(ep) => format!("{base} at {ep}"),
            None => base,
        }
    }

    async fn put(&self, key: &str, mut body: mpsc::Receiver<Bytes>) -> Result<u64, ProtectError> {
        let key = self.full(key);
        let mut first = part_buffer(0);
        while first.len() < part_size(0) {
            match body.recv().await {
                Some(chunk) => first.extend_from_slice(&chunk),
                None => {
                    // Small object: one request.
                    let size = first.len() as u64;
                    self.client
                        .put_object()
                        .bucket(&self.bucket)
                        .key(&key)
                        .body(ByteStream::from(first))
                        .send()
                        .await
                        .map_err(|e| self.err("put object", DisplayErrorContext(&e)))?;
                    return Ok(size);
                }
            }
        }
        self.put_multipart(&key, first, &mut body).await
    }

    async fn get(
        &self,
        key: &str,
    ) -> Result<BoxStream<'static, Result<Bytes, ProtectError>>, ProtectError> {
        let full = self.full(key);
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) => {
                let svc = e.into_service_error();
                if svc.is_no_such_key() {
                    return Err(ProtectError::NotFound {
                        key: key.to_string(),
                    });
                }
                return Err(self.err("get object", svc));
            }
        };
        let location = self.location();
        Ok(stream::unfold(Some(out.body), move |state| {
            let location = location.clone();
            async move {
                let mut body = state?;
                match body.try_next().await {
                    Ok(Some(chunk)) => Some((Ok(chunk), Some(body))),
                    Ok(None) => None,
                    Err(e) => Some((
                        Err(ProtectError::Store {
                            location,
                            message: format!("reading object: {e}"),
                        }),
                        None,
                    )),
                }
            }
        })
        .boxed())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, ProtectError> {
        let mut out = Vec::new();
        let strip = if self.prefix.is_empty() {
            0
        } else {
            self.prefix.len() + 1
        };
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(self.full(prefix))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.err("list objects", DisplayErrorContext(&e)))?;
            for obj in page.contents() {
                if let Some(k) = obj.key() {
                    out.push(ObjectMeta {
                        key: k.get(strip..).unwrap_or(k).to_string(),
                        size: obj.size().unwrap_or(0).max(0) as u64,
                    });
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn delete(&self, key: &str) -> Result<(), ProtectError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err("delete object", DisplayErrorContext(&e)))
    }
}
