//! Reading the start of a blob stream.

use futures_util::StreamExt;

/// The first `limit` bytes of a stream (fewer if it ends first).
pub async fn read_up_to(mut stream: hoist_oci::BlobStream, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(limit.min(1 << 20) as usize);
    while (bytes.len() as u64) < limit {
        let Some(chunk) = stream.next().await else { break };
        let chunk = chunk?;
        let take = (limit - bytes.len() as u64).min(chunk.len() as u64) as usize;
        bytes.extend_from_slice(&chunk[..take]);
    }
    Ok(bytes)
}
