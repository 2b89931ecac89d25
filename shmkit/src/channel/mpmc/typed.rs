//! A typed front on the MPMC queue: messages are values of a [`ShmSafe`] type, copied in
//! and out whole.

use super::{Consumer, Producer};
use crate::channel::error::TypedSendError;
use crate::channel::typed::{fits, value_from};
use crate::error::Result;
use crate::layout::{bytes_of, ShmSafe};
use crate::region::{ReadWrite, Region};
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::time::Duration;

/// A producer of `T` values on an MPMC queue (see [`Producer`]).
pub struct TypedProducer<T: ShmSafe, R: Deref<Target = Region<ReadWrite>> = crate::Attachment> {
    inner: Producer<R>,
    value: PhantomData<fn(T)>,
}

/// A consumer of `T` values on an MPMC queue (see [`Consumer`]).
pub struct TypedConsumer<T: ShmSafe, R: Deref<Target = Region<ReadWrite>> = crate::Attachment> {
    inner: Consumer<R>,
    value: PhantomData<fn() -> T>,
}

impl<T: ShmSafe, R: Deref<Target = Region<ReadWrite>>> fmt::Debug for TypedProducer<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TypedProducer").field(&self.inner).finish()
    }
}

impl<T: ShmSafe, R: Deref<Target = Region<ReadWrite>>> fmt::Debug for TypedConsumer<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TypedConsumer").field(&self.inner).finish()
    }
}

impl<T: ShmSafe, R: Deref<Target = Region<ReadWrite>>> TypedProducer<T, R> {
    /// Opens the queue at `offset` of `region` as a producer of `T` values.
    ///
    /// # Errors
    /// As [`Producer::open_in`]; [`ErrorKind::TooBig`](crate::ErrorKind::TooBig) when a `T` is larger than the
    /// queue's messages.
    pub fn open_in(region: R, offset: usize) -> Result<Self> {
        let inner = Producer::open_in(region, offset)?;
        fits::<T>(
            inner.message_size(),
            "TypedProducer::open_in",
            offset,
            "queue",
        )?;
        Ok(TypedProducer {
            inner,
            value: PhantomData,
        })
    }

    /// The untyped producer underneath.
    pub fn untyped(&mut self) -> &mut Producer<R> {
        &mut self.inner
    }

    /// Copies `value` into the next slot and publishes it; a failed send hands it back
    /// ([`ErrorKind::WouldBlock`](crate::ErrorKind::WouldBlock) for a full queue).
    ///
    /// # Errors
    /// As [`Producer::try_send`], with the value.
    pub fn try_send(&mut self, value: T) -> std::result::Result<(), TypedSendError<T>> {
        let result = self
            .inner
            .try_send(bytes_of(&value))
            .map_err(|e| e.into_error());
        result.map_err(|error| TypedSendError { value, error })
    }

    /// As [`try_send`](TypedProducer::try_send), waiting up to `timeout` while the queue is
    /// full (see [`Producer::send`]).
    ///
    /// # Errors
    /// As [`Producer::send_timeout`], with the value.
    pub fn send_timeout(
        &mut self,
        value: T,
        timeout: Duration,
    ) -> std::result::Result<(), TypedSendError<T>> {
        let result = self
            .inner
            .send_timeout(bytes_of(&value), timeout)
            .map_err(|e| e.into_error());
        result.map_err(|error| TypedSendError { value, error })
    }
}

impl<T: ShmSafe, R: Deref<Target = Region<ReadWrite>>> TypedConsumer<T, R> {
    /// Opens the queue at `offset` of `region` as a consumer of `T` values.
    ///
    /// # Errors
    /// As [`Consumer::open_in`].
    pub fn open_in(region: R, offset: usize) -> Result<Self> {
        Ok(TypedConsumer {
            inner: Consumer::open_in(region, offset)?,
            value: PhantomData,
        })
    }

    /// The untyped consumer underneath (to set its [`Wait`](crate::channel::Wait) mode).
    pub fn untyped(&mut self) -> &mut Consumer<R> {
        &mut self.inner
    }

    /// The next value, if one is there now.
    ///
    /// # Errors
    /// As [`Consumer::try_recv_ref`]; [`ErrorKind::Corrupt`](crate::ErrorKind::Corrupt) when the message is not the
    /// size of a `T`.
    pub fn try_recv(&mut self) -> Result<Option<T>> {
        match self.inner.try_recv_ref()? {
            Some(msg) => value_from(msg.len(), |b| msg.read_at(0, b)).map(Some),
            None => Ok(None),
        }
    }

    /// The next value, waiting up to `timeout` as the consumer's
    /// [`Wait`](crate::channel::Wait) mode says.
    ///
    /// # Errors
    /// As [`Consumer::recv_ref_timeout`], and as [`try_recv`](TypedConsumer::try_recv).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<T> {
        let msg = self.inner.recv_ref_timeout(timeout)?;
        value_from(msg.len(), |b| msg.read_at(0, b))
    }
}
