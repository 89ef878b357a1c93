using System.Net.Sockets;
using Microsoft.AspNetCore.Http.Features;

namespace M2M.Ingest.Hosting;

/// <summary>
/// The stream under a <see cref="DeviceSocketConnection"/>'s reader and writer. Reads are the socket's
/// asynchronous receives (a zero-byte one waits for data without a buffer). Writes try a non-blocking
/// send first and wait asynchronously only for what the kernel did not take: a connection that never
/// had a full send buffer never creates the socket's cached send operation (~0.3 KiB kept for the
/// connection's life), and an answer costs no asynchronous round trip.
/// </summary>
internal sealed class DeviceSocketStream : Stream
{
    private readonly Socket _socket;

    public DeviceSocketStream(Socket socket)
    {
        _socket = socket;
        // Affects the synchronous calls only (the non-blocking send below); asynchronous ones work as before.
        _socket.Blocking = false;
    }

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        _socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (!buffer.IsEmpty)
        {
            var sent = _socket.Send(buffer.Span, SocketFlags.None, out var error);
            if (error == SocketError.WouldBlock)
            {
                return SendRestAsync(buffer, cancellationToken);
            }
            if (error != SocketError.Success)
            {
                return ValueTask.FromException(new IOException($"Unable to write data to the transport connection: {error}.", new SocketException((int)error)));
            }
            buffer = buffer[sent..];
        }
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) =>
        throw new NotSupportedException("Device sockets are read asynchronously.");

    public override void Write(byte[] buffer, int offset, int count) =>
        throw new NotSupportedException("Device sockets are written asynchronously.");

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    private async ValueTask SendRestAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        try
        {
            while (!buffer.IsEmpty)
            {
                // Waits until the kernel takes the bytes (the device reads): the caller's write timeout bounds it.
                var sent = await _socket.SendAsync(buffer, SocketFlags.None, cancellationToken);
                buffer = buffer[sent..];
            }
        }
        catch (SocketException e)
        {
            throw new IOException($"Unable to write data to the transport connection: {e.SocketErrorCode}.", e);
        }
    }
}

/// <summary>
/// The features of a device connection: the few that Kestrel and its TLS middleware set, in a small
/// array (a <see cref="FeatureCollection"/> keeps a dictionary, about 0.3 KiB per connection).
/// </summary>
internal sealed class SmallFeatureCollection : IFeatureCollection
{
    private KeyValuePair<Type, object>[] _items = new KeyValuePair<Type, object>[4];
    private int _count;

    public bool IsReadOnly => false;

    public int Revision { get; private set; }

    public object? this[Type key]
    {
        get
        {
            for (var i = 0; i < _count; i++)
            {
                if (_items[i].Key == key)
                {
                    return _items[i].Value;
                }
            }
            return null;
        }
        set
        {
            ArgumentNullException.ThrowIfNull(key);
            Revision++;
            for (var i = 0; i < _count; i++)
            {
                if (_items[i].Key == key)
                {
                    if (value is null)
                    {
                        _items[i] = _items[_count - 1];
                        _items[--_count] = default;
                    }
                    else
                    {
                        _items[i] = new(key, value);
                    }
                    return;
                }
            }
            if (value is null)
            {
                return;
            }
            if (_count == _items.Length)
            {
                Array.Resize(ref _items, _count * 2);
            }
            _items[_count++] = new(key, value);
        }
    }

    public TFeature? Get<TFeature>() => (TFeature?)this[typeof(TFeature)];

    public void Set<TFeature>(TFeature? instance) => this[typeof(TFeature)] = instance;

    public IEnumerator<KeyValuePair<Type, object>> GetEnumerator()
    {
        for (var i = 0; i < _count; i++)
        {
            yield return _items[i];
        }
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
