using System.Buffers;
using M2M.Ingest.M2mp;

namespace M2M.Ingest.Tests;

public sealed class M2mpWriterTests
{
    [Theory]
    [InlineData(0, 0x21)]
    [InlineData(254, 0x21)]
    [InlineData(255, 0x41)]
    [InlineData(65534, 0x41)]
    [InlineData(65535, 0x61)]
    [InlineData(1_000_000, 0x61)]
    public void Data_frame_uses_the_smallest_width_that_holds_its_size(int payloadLength, byte expectedType)
    {
        var output = new ArrayBufferWriter<byte>();
        M2mpWriter.WriteData(output, 9, new byte[payloadLength]);
        Assert.Equal(expectedType, output.WrittenSpan[0]);
        Assert.Equal(M2mpWriter.GetDataFrameLength(payloadLength), output.WrittenCount);
        var frames = M2mpTestReader.ReadAll(output.WrittenSpan.ToArray());
        Assert.Single(frames);
    }

    [Theory]
    [InlineData(new[] { 10, 10 }, 0x22)]
    [InlineData(new[] { 250 }, 0x22)]
    [InlineData(new[] { 252 }, 0x22)]
    [InlineData(new[] { 253 }, 0x22)] // SIZE = 1 + 1 + 253 = 255
    [InlineData(new[] { 254 }, 0x42)] // SIZE = 256
    [InlineData(new[] { 255 }, 0x42)]
    [InlineData(new[] { 100, 100, 100 }, 0x42)]
    [InlineData(new[] { 70000 }, 0x62)]
    public void Array_frame_uses_the_smallest_width_that_holds_its_size_and_items(int[] lengths, byte expectedType)
    {
        var output = new ArrayBufferWriter<byte>();
        var items = lengths.Select(l => (ReadOnlyMemory<byte>)new byte[l]).ToArray();
        M2mpWriter.WriteArray(output, 1, items);
        Assert.Equal(expectedType, output.WrittenSpan[0]);
        var sequenceReader = new SequenceReader<byte>(new ReadOnlySequence<byte>(output.WrittenMemory));
        Assert.True(new M2mpReader().TryRead(ref sequenceReader, out var frame));
        Assert.Equal(lengths.Length, frame.ItemCount);
    }

    [Fact]
    public void Frame_over_the_maximum_size_is_not_written()
    {
        var output = new ArrayBufferWriter<byte>();
        Assert.Throws<ArgumentOutOfRangeException>(() => M2mpWriter.WriteData(output, 0, new byte[M2mpReader.DefaultMaxFrameSize]));
        Assert.Throws<ArgumentOutOfRangeException>(() => M2mpWriter.WriteData(output, 0, new byte[100], maxFrameSize: 50));
        Assert.Throws<ArgumentOutOfRangeException>(() => M2mpWriter.WriteChannelDefinition(output, 0, new byte[255]));
        Assert.Throws<ArgumentOutOfRangeException>(() => M2mpWriter.WriteData(output, 0, new byte[300], sizeWidth: 1));
        Assert.Equal(0, output.WrittenCount);
    }
}
