#!/usr/bin/env python3
"""The floor for a pull or a pack on this machine: the least a client must do.

The bytes come from one plain-HTTP GET (a pull) or from a file (a pack),
straight into 1 MiB page-aligned buffers (blocking recv or read, no copy in
user space); each buffer is hashed with SHA-256 (OpenSSL's, through hashlib,
which releases the GIL) on one thread and written with O_DIRECT at its offset
by two others; the file is fsynced at the end and the digest checked. No
manifest, no store, no resume state, no retries: whatever hoist takes beyond
this is hoist's own cost.

Usage: bench/floor_client.py http://HOST:PORT/PATH|FILE OUTPUT SHA256-HEX
"""

import hashlib
import mmap
import os
import queue
import socket
import sys
import threading

PIECE = 1 << 20
BUFFERS = 64  # 64 MiB in memory at most, like hoist's hand-off budget


def open_http(url):
    """Sends the GET; returns the body's size and a function that reads into a view."""
    address, _, path = url.removeprefix("http://").partition("/")
    host, port = address.rsplit(":", 1)
    conn = socket.create_connection((host, int(port)))
    conn.sendall(f"GET /{path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = conn.recv(4096)
        if not chunk:
            sys.exit("floor client: the connection closed before the headers ended")
        head += chunk
    head, early = head.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    if lines[0].split()[1] != "200":
        sys.exit(f"floor client: {lines[0]}")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    pending = [early]  # body bytes that came with the headers

    def read_into(view):
        if pending[0]:
            count = min(len(pending[0]), len(view))
            view[:count] = pending[0][:count]
            pending[0] = pending[0][count:]
            return count
        return conn.recv_into(view)

    return int(headers["content-length"]), read_into


def open_file(path):
    source = open(path, "rb", buffering=0)
    return os.fstat(source.fileno()).st_size, source.readinto


def main():
    source, output, expected = sys.argv[1:4]
    size, read_into = open_http(source) if source.startswith("http://") else open_file(source)

    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT, 0o644)
    free = queue.Queue()
    for _ in range(BUFFERS):
        free.put(mmap.mmap(-1, PIECE))
    to_hash, to_write = queue.Queue(), queue.Queue()
    users, users_lock = {}, threading.Lock()
    digest = []

    def done_with(index, buffer):
        # A buffer goes back to the pool once both the hash and the write have it done.
        with users_lock:
            users[index] -= 1
            if users[index] == 0:
                del users[index]
                free.put(buffer)

    def hash_pieces():
        sha = hashlib.sha256()
        while (item := to_hash.get()) is not None:
            index, buffer, length = item
            sha.update(memoryview(buffer)[:length])
            done_with(index, buffer)
        digest.append(sha.hexdigest())

    def write_pieces():
        while (item := to_write.get()) is not None:
            index, buffer, length = item
            if length == PIECE:
                os.pwrite(fd, buffer, index * PIECE)
            else:  # the unaligned tail goes through the page cache
                tail = os.open(output, os.O_WRONLY)
                os.pwrite(tail, memoryview(buffer)[:length], index * PIECE)
                os.close(tail)
            done_with(index, buffer)

    threads = [threading.Thread(target=hash_pieces)] + [threading.Thread(target=write_pieces) for _ in range(2)]
    for thread in threads:
        thread.start()
    received, index = 0, 0
    while received < size:
        buffer = free.get()
        view = memoryview(buffer)
        length, filled = min(PIECE, size - received), 0
        while filled < length:
            count = read_into(view[filled:length])
            if count == 0:
                sys.exit(f"floor client: the source ended at byte {received + filled} of {size}")
            filled += count
        with users_lock:
            users[index] = 2
        to_hash.put((index, buffer, length))
        to_write.put((index, buffer, length))
        received += length
        index += 1
    to_hash.put(None)
    for _ in threads[1:]:
        to_write.put(None)
    for thread in threads:
        thread.join()
    os.fsync(fd)
    os.close(fd)
    if digest != [expected]:
        sys.exit(f"floor client: digest {digest} is not {expected}")


main()
