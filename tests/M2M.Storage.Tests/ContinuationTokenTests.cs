using System.Buffers.Text;
using M2M.Storage.TimeSeries;

namespace M2M.Storage.Tests;

/// <summary>The engine-neutral continuation tokens every time-series backend hands out.</summary>
public sealed class ContinuationTokenTests
{
    private static readonly DateTimeOffset Jan = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static readonly TimeSeriesQuery Query = new("dev-1", "sen:temp", Jan, Jan.AddDays(31), Descending: true, Limit: 10);

    private static readonly TimeSeriesPosition Last = new(Jan.AddDays(3).UtcTicks, "sen:temp", -0x1234_5678_9ABC_DEF0);

    [Fact]
    public void A_first_page_has_no_position()
    {
        Assert.Null(ContinuationToken.Decode(Query));
    }

    [Fact]
    public void A_token_gives_back_the_position_to_the_query_that_made_it_whatever_its_page_size()
    {
        var token = ContinuationToken.Encode(Query, Last);

        Assert.Equal(Last, ContinuationToken.Decode(Query with { Continuation = token }));
        Assert.Equal(Last, ContinuationToken.Decode(Query with { Limit = 500, Continuation = token }));
    }

    [Fact]
    public void A_position_with_a_non_ascii_type_survives_the_token()
    {
        var query = new TimeSeriesQuery("dev-1");
        var last = new TimeSeriesPosition(Jan.UtcTicks, "sen:température", long.MaxValue);

        Assert.Equal(last, ContinuationToken.Decode(query with { Continuation = ContinuationToken.Encode(query, last) }));
    }

    public static TheoryData<TimeSeriesQuery> OtherQueries => new()
    {
        Query with { Id = "dev-2" },
        Query with { Type = "sen:loc" },
        Query with { Type = null },
        Query with { From = Jan.AddDays(1) },
        Query with { To = null },
        Query with { Descending = false },
    };

    [Theory]
    [MemberData(nameof(OtherQueries))]
    public void A_token_is_refused_by_any_other_query(TimeSeriesQuery other)
    {
        var token = ContinuationToken.Encode(Query, Last);

        Assert.Throws<InvalidContinuationTokenException>(() => ContinuationToken.Decode(other with { Continuation = token }));
    }

    [Fact]
    public void Every_altered_byte_of_a_token_is_detected()
    {
        var bytes = Base64Url.DecodeFromChars(ContinuationToken.Encode(Query, Last));

        for (var i = 0; i < bytes.Length; i++)
        {
            var altered = (byte[])bytes.Clone();
            altered[i] ^= 0x20;
            var token = Base64Url.EncodeToString(altered);
            Assert.Throws<InvalidContinuationTokenException>(() => ContinuationToken.Decode(Query with { Continuation = token }));
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("not base64url!")]
    [InlineData("AQ")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    public void Malformed_tokens_are_refused(string token)
    {
        Assert.Throws<InvalidContinuationTokenException>(() => ContinuationToken.Decode(Query with { Continuation = token }));
    }

    [Fact]
    public void A_token_whose_position_lies_outside_the_query_range_is_refused()
    {
        var token = ContinuationToken.Encode(Query, Last with { Ticks = Jan.AddDays(40).UtcTicks });

        var error = Assert.Throws<InvalidContinuationTokenException>(() => ContinuationToken.Decode(Query with { Continuation = token }));
        Assert.Contains("outside", error.Message, StringComparison.Ordinal);
    }
}
