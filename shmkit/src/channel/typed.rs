//! A typed front on the SPSC channel: messages are values of a [`ShmSafe`] type, copied in
//! and out whole.

use super::error::TypedSendError;
use super::spsc::{Receiver, Sender};
use crate::error::{Error, ErrorKind, Result};
use crate::layout::{bytes_of, ShmSafe};
use crate::region::{ReadWrite, Region};
use std::fmt;
use std::marker::PhantomData;
use std::mem::{size_of, MaybeUninit};
use std::ops::Deref;
use std::time::Duration;

/// The sending end of an SPSC channel of `T` values (see [`Sender`]).
pub struct TypedSender<T: ShmSafe, R: Deref<Target = Region<ReadWrite>> = crate::Attachment> {
    inner: Sender<R>,
    value: PhantomData<fn(T)>,
}

/// The receiving end of an SPSC channel of `T` values (see [`Receiver`]).
pub struct TypedReceiver<T: ShmSafe, R: Deref<Target = Region<ReadWrite>> = crate::Attachment> {
    inner: Receiver<R>,
    value: PhantomData<fn() -> T>,
}

impl<T: ShmSafe, R: Deref<Target = Region<ReadWrite>>> fmt::Debug for TypedSender<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TypedSender").field(&self.inner).finish()
    }
}

impl<T: ShmSafe, R: Deref<Target = Region<ReadWrite>>> fmt::Debug for TypedReceiver<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TypedReceiver").field(&self.inner).finish()
    }
}

impl<T: ShmSafe, R: Deref<Target = Region<ReadWrite>>> TypedSender<T, R> {
    /// Opens the channel at `offset` of `region` as its sender.
    ///
    /// # Errors
    /// As [`Sender::open_in`]; [`ErrorKind::TooBig`] when a `T` is larger than the
    /// channel's largest message.
    pub fn open_in(region: R, offset: usize) -> Result<Self> {
        let inner = Sender::open_in(region, offset)?;
        fits::<T>(
            inner.max_message(),
            "TypedSender::open_in",
            offset,
            "channel",
        )?;
        Ok(TypedSender {
            inner,
            value: PhantomData,
        })
    }

    /// The untyped sender underneath.
    pub fn untyped(&mut self) -> &mut Sender<R> {
        &mut self.inner
    }

    /// Copies `value` into the ring and commits it, waiting for room while the ring is full
    /// (see [`Sender::loan_timeout`]); `timeout` `None` waits as long as it takes. A failed
    /// send hands the value back.
    ///
    /// # Errors
    /// As [`Sender::loan_timeout`], with the value.
    pub fn send_timeout(
        &mut self,
        value: T,
        timeout: Option<std::time::Duration>,
    ) -> std::result::Result<(), TypedSendError<T>> {
        put(self.inner.loan_timeout(size_of::<T>(), timeout), value)
    }

    /// Copies `value` into the ring and commits it; a failed send hands it back.
    ///
    /// # Errors
    /// As [`Sender::loan`], with the value.
    pub fn try_send(&mut self, value: T) -> std::result::Result<(), TypedSendError<T>> {
        put(self.inner.loan(size_of::<T>()), value)
    }
}

/// Writes `value` into a loan and commits it, or hands the value back with the error.
fn put<T: ShmSafe, R: Deref<Target = Region<ReadWrite>>>(
    loan: Result<super::Loan<'_, R>>,
    value: T,
) -> std::result::Result<(), TypedSendError<T>> {
    match loan.and_then(|loan| loan.write_at(0, bytes_of(&value)).map(|()| loan)) {
        Ok(loan) => {
            loan.commit();
            Ok(())
        }
        Err(error) => Err(TypedSendError { value, error }),
    }
}

impl<T: ShmSafe, R: Deref<Target = Region<ReadWrite>>> TypedReceiver<T, R> {
    /// Opens the channel at `offset` of `region` as its receiver.
    ///
    /// # Errors
    /// As [`Receiver::open_in`].
    pub fn open_in(region: R, offset: usize) -> Result<Self> {
        Ok(TypedReceiver {
            inner: Receiver::open_in(region, offset)?,
            value: PhantomData,
        })
    }

    /// The untyped receiver underneath (to set its [`Wait`](super::Wait) mode).
    pub fn untyped(&mut self) -> &mut Receiver<R> {
        &mut self.inner
    }

    /// The next value, if one is there now.
    ///
    /// # Errors
    /// As [`Receiver::try_recv_ref`]; [`ErrorKind::Corrupt`] when the message is not the
    /// size of a `T`.
    pub fn try_recv(&mut self) -> Result<Option<T>> {
        match self.inner.try_recv_ref()? {
            Some(msg) => Ok(Some(read_value(&msg)?)),
            None => Ok(None),
        }
    }

    /// The next value; waits as the receiver's [`Wait`](super::Wait) mode says.
    ///
    /// # Errors
    /// As [`Receiver::recv_ref`], and as [`try_recv`](TypedReceiver::try_recv).
    pub fn recv(&mut self) -> Result<T> {
        let msg = self.inner.recv_ref()?;
        read_value(&msg)
    }

    /// As [`recv`](TypedReceiver::recv), giving up after `timeout`.
    ///
    /// # Errors
    /// As [`Receiver::recv_ref_timeout`], and as [`try_recv`](TypedReceiver::try_recv).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<T> {
        let msg = self.inner.recv_ref_timeout(timeout)?;
        read_value(&msg)
    }
}

fn read_value<T: ShmSafe, R: Deref<Target = Region<ReadWrite>>>(
    msg: &super::Received<'_, R>,
) -> Result<T> {
    value_from(msg.len(), |bytes| msg.read_at(0, bytes))
}

/// Checks, at open, that a `T` fits in the messages of a channel (`what`) that takes at
/// most `max` bytes: [`ErrorKind::TooBig`] otherwise. Shared by the typed fronts of every
/// kind.
pub(crate) fn fits<T: ShmSafe>(
    max: usize,
    call: &'static str,
    offset: usize,
    what: &str,
) -> Result<()> {
    if size_of::<T>() > max {
        return Err(Error::new(
            ErrorKind::TooBig,
            call,
            format!("offset={offset}"),
            format!(
                "a value of {} bytes; this {what} takes at most {max}",
                size_of::<T>()
            ),
        ));
    }
    Ok(())
}

/// A `T` from a message of `len` bytes that `read` copies out: [`ErrorKind::Corrupt`] when
/// the message is not the size of a `T`.
pub(crate) fn value_from<T: ShmSafe>(
    len: usize,
    read: impl FnOnce(&mut [u8]) -> Result<()>,
) -> Result<T> {
    if len != size_of::<T>() {
        return Err(Error::new(
            ErrorKind::Corrupt,
            "TypedReceiver::recv",
            String::new(),
            format!(
                "a message of {len} bytes where a value of {} was expected",
                size_of::<T>()
            ),
        ));
    }
    let mut value = MaybeUninit::<T>::zeroed();
    // SAFETY: the zeroed bytes of `value` are initialised u8s, borrowed mutably for the copy.
    let bytes =
        unsafe { std::slice::from_raw_parts_mut(value.as_mut_ptr().cast::<u8>(), size_of::<T>()) };
    read(bytes)?;
    // SAFETY: every byte is initialised, and T: ShmSafe is valid for every bit pattern.
    Ok(unsafe { value.assume_init() })
}
