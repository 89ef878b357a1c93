using M2M.Load.Runs;

namespace M2M.Load.Tests;

public sealed class CommandTrackerTests
{

    private static long Ticks(double milliseconds) => (long)(milliseconds * System.Diagnostics.Stopwatch.Frequency / 1000);

    [Fact]
    public void A_command_text_carries_the_run_tag_and_its_sequence()
    {
        var tracker = new CommandTracker(100, "ab12");
        Assert.Equal("m2m-load ab12 42", tracker.Text(42));
        Assert.True(tracker.TryParse("m2m-load ab12 42", out var sequence));
        Assert.Equal(42, sequence);
    }

    [Theory]
    [InlineData("m2m-load cd34 42")]   // another run
    [InlineData("m2m-load ab123 42")]  // a longer tag that starts with this one
    [InlineData("m2m-load ab12 ")]
    [InlineData("m2m-load ab12 -1")]
    [InlineData("m2m-load ab12 100")]  // beyond the run's commands
    [InlineData("m2m-load ab12 4x")]
    [InlineData("reboot")]
    [InlineData("")]
    public void Texts_that_are_not_a_command_of_this_run_do_not_parse(string text)
    {
        var tracker = new CommandTracker(100, "ab12");
        Assert.False(tracker.TryParse(text, out _));
    }

    [Fact]
    public void A_delivery_before_the_post_is_answered_is_matched_by_its_text()
    {
        var tracker = new CommandTracker(10, "t1");
        tracker.Posting(3, device: 7, timestamp: Ticks(1000));
        tracker.Received(tracker.Text(3), Ticks(1004));
        tracker.Answered(3, "cmd-3", Ticks(1006));

        var f = tracker.Figures(posted: 4);
        Assert.Equal(1, f.Posted);
        Assert.Equal(1, f.Delivery.Count);
        Assert.InRange(f.Delivery.Max, 3990, 4010); // µs
        Assert.InRange(f.Post.Max, 5990, 6010);
        Assert.Equal(0, f.Lost);
    }

    [Fact]
    public void An_acknowledgement_event_before_the_post_answer_counts_once_the_answer_names_the_command()
    {
        var tracker = new CommandTracker(10, "t1");
        tracker.Posting(0, device: 1, timestamp: Ticks(100));
        tracker.Received(tracker.Text(0), Ticks(102));
        tracker.AckSeen("cmd-0", Ticks(105));
        Assert.Equal(0, tracker.Acked);

        tracker.Answered(0, "cmd-0", Ticks(107));

        Assert.Equal(1, tracker.Acked);
        var f = tracker.Figures(1);
        Assert.Equal(1, f.Ack.Count);
        Assert.InRange(f.Ack.Max, 4990, 5010);
        Assert.Equal(0, f.AckMissing);
    }

    [Fact]
    public void An_acknowledgement_after_the_answer_is_matched_by_the_command_id_and_counted_once()
    {
        var tracker = new CommandTracker(10, "t1");
        tracker.Posting(0, 1, Ticks(0));
        tracker.Answered(0, "cmd-0", Ticks(2));
        tracker.Received(tracker.Text(0), Ticks(3));
        tracker.AckSeen("cmd-0", Ticks(9));
        tracker.AckSeen("cmd-0", Ticks(12));

        var f = tracker.Figures(1);
        Assert.Equal(1, tracker.Acked);
        Assert.InRange(f.Ack.Max, 8990, 9010);
    }

    [Fact]
    public void A_second_delivery_is_a_duplicate_and_the_first_time_is_kept()
    {
        var tracker = new CommandTracker(10, "t1");
        tracker.Posting(0, 1, Ticks(0));
        tracker.Answered(0, "cmd-0", Ticks(1));
        tracker.Received(tracker.Text(0), Ticks(2));
        tracker.Received(tracker.Text(0), Ticks(50));

        Assert.Equal(1, tracker.Delivered);
        Assert.Equal(1, tracker.Duplicates);
        Assert.InRange(tracker.Figures(1).Delivery.Max, 1990, 2010);
    }

    [Fact]
    public void Deliveries_of_other_runs_are_counted_as_foreign_and_match_nothing()
    {
        var tracker = new CommandTracker(10, "t1");
        tracker.Posting(0, 1, Ticks(0));
        tracker.Received("m2m-load old9 0", Ticks(1));
        tracker.Received("reboot", Ticks(1));
        tracker.Received(tracker.Text(5), Ticks(1)); // this run's text, never posted

        Assert.Equal(3, tracker.Foreign);
        Assert.Equal(0, tracker.Delivered);
    }

    [Fact]
    public void Queued_commands_never_delivered_are_lost_and_failed_posts_are_api_errors_not_losses()
    {
        var tracker = new CommandTracker(10, "t1");
        tracker.Posting(0, 1, Ticks(0));
        tracker.Answered(0, "cmd-0", Ticks(1));
        tracker.Posting(1, 2, Ticks(0));
        tracker.Answered(1, null, Ticks(1));
        tracker.Posting(2, 3, Ticks(0));
        tracker.Answered(2, "cmd-2", Ticks(1));
        tracker.Received(tracker.Text(2), Ticks(3));
        tracker.Posting(3, 3, Ticks(0)); // still unanswered

        var f = tracker.Figures(4);
        Assert.Equal(4, f.Posted);
        Assert.Equal(1, f.Lost);
        Assert.Equal(["cmd-0"], f.LostIds);
        Assert.Equal(1, f.ApiErrors);
        Assert.Equal(1, f.Unanswered);
        Assert.Equal(1, f.AckMissing);
        Assert.Equal((3, "cmd-2"), Assert.Single(f.AckMissingIds));
    }

    [Fact]
    public void Concurrent_deliveries_and_acknowledgements_are_each_counted_once()
    {
        const int n = 2000;
        var tracker = new CommandTracker(n, "t1");
        for (var i = 0; i < n; i++)
        {
            tracker.Posting(i, i % 13, Ticks(i));
        }
        Parallel.Invoke(
            () => Parallel.For(0, n, i => tracker.Answered(i, $"c{i}", Ticks(i + 3))),
            () => Parallel.For(0, n, i => tracker.Received(tracker.Text(i), Ticks(i + 2))),
            () => Parallel.For(0, n, i => tracker.AckSeen($"c{i}", Ticks(i + 5))),
            () => Parallel.For(0, n, i => tracker.Received(tracker.Text(i), Ticks(i + 9))));

        var f = tracker.Figures(n);
        Assert.Equal(n, f.Delivery.Count);
        Assert.Equal(n, f.Ack.Count);
        Assert.Equal(n, tracker.Duplicates);
        Assert.Equal(0, f.Lost);
        Assert.Equal(0, f.AckMissing);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a b")]
    [InlineData("a-b")]
    public void A_tag_must_be_letters_and_digits(string tag)
    {
        Assert.Throws<ArgumentException>(() => new CommandTracker(1, tag));
    }

    [Theory]
    [InlineData("{\"command_id\":\"0190-abc\",\"response\":\"ok\"}", "0190-abc")]
    [InlineData(" {\"device_id\":\"x\",\"command_id\":\"c1\"}", "c1")]
    [InlineData("{\"command_id\":5}", null)]
    [InlineData("{\"other\":1}", null)]
    [InlineData("not json", null)]
    [InlineData("[1]", null)]
    public void The_command_id_is_read_from_an_event_data_line(string data, string? expected)
    {
        Assert.Equal(expected, CommandApi.CommandId(data));
    }
}
