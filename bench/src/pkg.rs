//! A driver package the server accepts: a zip (stored, no compression) holding `manifest.json`
//! for the platform and version, and one big member of incompressible bytes. Written by hand (the
//! format is small) so the bench crate needs no zip library.

use std::io::{BufWriter, Write};

use crate::Result;
use crate::http::Rng;

fn crc32_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    for (i, slot) in table.iter_mut().enumerate() {
        let mut c = i as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
        *slot = c;
    }
    table
}

fn crc32(table: &[u32; 256], data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = table[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

struct Member {
    name: &'static str,
    crc: u32,
    size: u32,
    offset: u32,
}

fn local_header(out: &mut impl Write, name: &str, crc: u32, size: u32) -> std::io::Result<()> {
    out.write_all(&0x0403_4b50u32.to_le_bytes())?;
    out.write_all(&20u16.to_le_bytes())?; // version needed
    out.write_all(&0u16.to_le_bytes())?; // flags
    out.write_all(&0u16.to_le_bytes())?; // stored
    out.write_all(&0u16.to_le_bytes())?; // time
    out.write_all(&0x5C21u16.to_le_bytes())?; // date: 2026-01-01
    out.write_all(&crc.to_le_bytes())?;
    out.write_all(&size.to_le_bytes())?;
    out.write_all(&size.to_le_bytes())?;
    out.write_all(&(name.len() as u16).to_le_bytes())?;
    out.write_all(&0u16.to_le_bytes())?;
    out.write_all(name.as_bytes())
}

pub fn write(path: &str, size: u64, platform: &str, version: &str) -> Result<()> {
    let size = u32::try_from(size).map_err(|_| "at most 4 GiB (no zip64 here)")?;
    let table = crc32_table();
    let manifest = format!(
        "{{\"product\":\"PlateSpin Migrate\",\"component\":\"Block-based transfer drivers\",\
         \"platform\":\"{platform}\",\"version\":\"{version}\",\"files\":[]}}"
    );
    // The payload: deterministic, incompressible.
    let mut payload = Vec::with_capacity(size as usize);
    let mut rng = Rng::new(u64::from(size) ^ 0x5053_5345_5256_4552);
    while payload.len() < size as usize {
        payload.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    payload.truncate(size as usize);

    let mut out = BufWriter::new(std::fs::File::create(path)?);
    let mut offset = 0u32;
    let mut members = Vec::new();
    for (name, data) in [
        ("manifest.json", manifest.as_bytes()),
        ("payload.bin", &payload[..]),
    ] {
        let m = Member {
            name,
            crc: crc32(&table, data),
            size: data.len() as u32,
            offset,
        };
        local_header(&mut out, name, m.crc, m.size)?;
        out.write_all(data)?;
        offset += 30 + name.len() as u32 + m.size;
        members.push(m);
    }
    let cd_start = offset;
    for m in &members {
        out.write_all(&0x0201_4b50u32.to_le_bytes())?;
        out.write_all(&20u16.to_le_bytes())?; // made by
        out.write_all(&20u16.to_le_bytes())?; // needed
        out.write_all(&0u16.to_le_bytes())?;
        out.write_all(&0u16.to_le_bytes())?;
        out.write_all(&0u16.to_le_bytes())?;
        out.write_all(&0x5C21u16.to_le_bytes())?;
        out.write_all(&m.crc.to_le_bytes())?;
        out.write_all(&m.size.to_le_bytes())?;
        out.write_all(&m.size.to_le_bytes())?;
        out.write_all(&(m.name.len() as u16).to_le_bytes())?;
        out.write_all(&[0u8; 8])?; // extra, comment, disk, internal attributes
        out.write_all(&0u32.to_le_bytes())?; // external attributes
        out.write_all(&m.offset.to_le_bytes())?;
        out.write_all(m.name.as_bytes())?;
        offset += 46 + m.name.len() as u32;
    }
    out.write_all(&0x0605_4b50u32.to_le_bytes())?;
    out.write_all(&[0u8; 4])?;
    out.write_all(&(members.len() as u16).to_le_bytes())?;
    out.write_all(&(members.len() as u16).to_le_bytes())?;
    out.write_all(&(offset - cd_start).to_le_bytes())?;
    out.write_all(&cd_start.to_le_bytes())?;
    out.write_all(&0u16.to_le_bytes())?;
    out.flush()?;
    Ok(())
}
