using System.Buffers;
using System.Text;
using M2M.Ingest.Alip;
using M2M.Ingest.Values;
using M2M.Storage.Files;

namespace M2M.Ingest.Sessions;

internal sealed partial class AlipSession
{
    private FirmwareInfo? _firmware;

    /// <summary>
    /// <code>
    /// F-content = "N" SP name                 ; select: F N 1 / F N 0
    ///           / "S"                         ; F S &lt;size&gt;
    ///           / "G" SP offset SP size        ; F G &lt;offset&gt; &lt;hex&gt; (size clamped to the chunk maximum)
    /// </code>
    /// </summary>
    private async ValueTask OnFirmwareAsync(ReadOnlyMemory<byte> content)
    {
        var rest = content;
        TryTakeToken(ref rest, out var verb);
        var v = verb.Span;
        if (v.SequenceEqual("N"u8))
        {
            if (rest.IsEmpty)
            {
                Missing("file name");
                return;
            }
            // A name the store could not hold (too long, a control character) names no firmware.
            var name = rest.Length <= IFirmwareStore.MaxNameLength * 4 ? Encoding.UTF8.GetString(rest.Span) : "";
            _firmware = name.Length is > 0 and <= IFirmwareStore.MaxNameLength && !name.Any(char.IsControl)
                ? await FindFirmwareAsync(name)
                : null;
            AlipWriter.WriteFirmwareFound(Output, _firmware is not null);
            CountOut();
        }
        else if (v.SequenceEqual("S"u8) && rest.IsEmpty)
        {
            if (_firmware is null)
            {
                Error("no file selected");
                return;
            }
            AlipWriter.WriteFirmwareSize(Output, _firmware.Size);
            CountOut();
        }
        else if (v.SequenceEqual("G"u8))
        {
            await OnFirmwareGetAsync(rest);
        }
        else
        {
            CountError("invalid_firmware_command");
            Error("Invalid firmware command");
        }
    }

    /// <summary>
    /// The firmware <paramref name="name"/> when the device's domain may read it (read now: a device
    /// moved to another domain is judged by its new one); a firmware of other domains is "not found".
    /// </summary>
    private async ValueTask<FirmwareInfo?> FindFirmwareAsync(string name)
    {
        if (await Services.Devices.GetAsync(DeviceId, Closing) is not { } device)
        {
            return null;
        }
        return await Services.Firmware.FindForDomainAsync(name, device.DomainId, Closing);
    }

    private async ValueTask OnFirmwareGetAsync(ReadOnlyMemory<byte> rest)
    {
        if (!TryTakeToken(ref rest, out var offsetToken) || offsetToken.IsEmpty)
        {
            Missing("offset");
            return;
        }
        if (!TryParseNonNegative(offsetToken.Span, out var offset))
        {
            Refuse(ValueError.InvalidNumber);
            return;
        }
        if (!TryTakeToken(ref rest, out var sizeToken) || sizeToken.IsEmpty)
        {
            Missing("size");
            return;
        }
        if (!TryParseNonNegative(sizeToken.Span, out var size) || !rest.IsEmpty)
        {
            Refuse(ValueError.InvalidNumber);
            return;
        }
        if (_firmware is null)
        {
            Error("no file selected");
            return;
        }

        var length = (int)Math.Min(Math.Min(size, Options.FirmwareChunkMax), Math.Max(0, _firmware.Size - offset));
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        try
        {
            var read = 0;
            if (length > 0)
            {
                Stream stream;
                try
                {
                    stream = await Services.Firmware.OpenReadAsync(_firmware.Id, Closing);
                }
                catch (StoredFileException)
                {
                    _firmware = null;
                    Error("no file selected");
                    return;
                }
                await using (stream)
                {
                    stream.Seek(offset, SeekOrigin.Begin);
                    while (read < length)
                    {
                        var n = await stream.ReadAsync(buffer.AsMemory(read, length - read), Closing);
                        if (n == 0)
                        {
                            break;
                        }
                        read += n;
                    }
                }
            }
            AlipWriter.WriteFirmwareChunk(Output, offset, buffer.AsSpan(0, read));
            CountOut();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
