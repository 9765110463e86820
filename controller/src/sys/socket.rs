//! The SOCK_SEQPACKET socket pair between the controller and a container.

use super::check;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// `socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)`.
pub fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds is a live array of two ints.
    check(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: both fds were just made by socketpair and are owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `sendmsg(socket, {datagram}, SCM_RIGHTS fds, MSG_NOSIGNAL)`.
pub fn send_with_fds(socket: RawFd, datagram: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    let raw: Vec<RawFd> = fds.iter().map(|fd| fd.as_raw_fd()).collect();
    let fd_bytes = std::mem::size_of_val(raw.as_slice());
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(fd_bytes as u32) } as usize;
    let mut control = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: datagram.as_ptr() as *mut libc::c_void,
        iov_len: datagram.len(),
    };
    // SAFETY: an all-zero msghdr is valid (no name, no iov yet).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !raw.is_empty() {
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        // SAFETY: msg_control points at `space` zeroed bytes, enough for one header.
        let header = unsafe { &mut *libc::CMSG_FIRSTHDR(&msg) };
        header.cmsg_level = libc::SOL_SOCKET;
        header.cmsg_type = libc::SCM_RIGHTS;
        // SAFETY: CMSG_LEN only computes a size.
        header.cmsg_len = unsafe { libc::CMSG_LEN(fd_bytes as u32) } as _;
        // SAFETY: CMSG_DATA points inside control, with room for fd_bytes as CMSG_SPACE said;
        // the copy is unaligned-safe.
        unsafe {
            std::ptr::copy_nonoverlapping(
                raw.as_ptr().cast::<u8>(),
                libc::CMSG_DATA(header),
                fd_bytes,
            )
        };
    }
    // SAFETY: msg and everything it points at are live for the call.
    check(unsafe { libc::sendmsg(socket, &msg, libc::MSG_NOSIGNAL) }).map(drop)
}

/// `send(socket, datagram, MSG_NOSIGNAL)`.
pub fn send(socket: RawFd, datagram: &[u8]) -> io::Result<()> {
    // SAFETY: datagram is live and readable for its length.
    check(unsafe {
        libc::send(
            socket,
            datagram.as_ptr().cast(),
            datagram.len(),
            libc::MSG_NOSIGNAL,
        )
    })
    .map(drop)
}

/// `poll({socket, POLLIN}, timeout)` then `recv(socket, buf, 0)`. `Ok(None)` at the timeout;
/// `Ok(Some(0))` when the peer has closed.
pub fn recv_timeout(
    socket: RawFd,
    buf: &mut [u8],
    timeout: Option<Duration>,
) -> io::Result<Option<usize>> {
    let mut pfd = libc::pollfd {
        fd: socket,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as libc::c_int);
    loop {
        // SAFETY: pfd is one live pollfd.
        match check(unsafe { libc::poll(&mut pfd, 1, ms) }) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
            Ok(0) => return Ok(None),
            Ok(_) => break,
        }
    }
    loop {
        // SAFETY: buf is live and writable for its length.
        match check(unsafe {
            libc::recv(socket, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_TRUNC)
        }) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.raw_os_error() == Some(libc::ECONNRESET) => return Ok(Some(0)),
            other => return other.map(|n| Some(n as usize)),
        }
    }
}

/// `recv(socket, buf, 0)`, blocking; 0 when the peer has closed.
pub fn recv(socket: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    recv_timeout(socket, buf, None).map(|n| n.unwrap_or(0))
}

/// True when the peer of `socket` has closed its end (`poll` reports POLLHUP at once).
pub fn peer_closed(socket: RawFd) -> bool {
    let mut pfd = libc::pollfd {
        fd: socket,
        events: 0,
        revents: 0,
    };
    // SAFETY: pfd is one live pollfd; a zero timeout never blocks.
    let ready = unsafe { libc::poll(&mut pfd, 1, 0) };
    ready < 0 || pfd.revents & (libc::POLLHUP | libc::POLLERR) != 0
}
