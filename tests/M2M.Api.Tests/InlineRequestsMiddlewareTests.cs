using M2M.Api.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace M2M.Api.Tests;

/// <summary>With Kestrel running requests where their sockets complete, only the marked short reads stay on that thread.</summary>
public sealed class InlineRequestsMiddlewareTests
{
    [Fact]
    public async Task A_marked_route_runs_on_the_thread_that_received_it()
    {
        var (ranOnCallingThread, ranOnPool) = await RunOnOwnThreadAsync(Endpoint(inline: true));

        Assert.True(ranOnCallingThread);
        Assert.False(ranOnPool);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Any_other_request_moves_to_the_thread_pool_before_its_work(bool hasEndpoint)
    {
        var (ranOnCallingThread, ranOnPool) = await RunOnOwnThreadAsync(hasEndpoint ? Endpoint(inline: false) : null);

        Assert.False(ranOnCallingThread);
        Assert.True(ranOnPool);
    }

    private static Endpoint Endpoint(bool inline)
    {
        var builder = new RouteEndpointBuilderStub();
        if (inline)
        {
            builder.RunsInline();
        }
        return new Endpoint(_ => Task.CompletedTask, new EndpointMetadataCollection(builder.Metadata), "test");
    }

    /// <summary>Calls the middleware from a thread of its own (as a socket event thread is): where did the next step run?</summary>
    private static async Task<(bool RanOnCallingThread, bool RanOnPool)> RunOnOwnThreadAsync(Endpoint? endpoint)
    {
        var context = new DefaultHttpContext();
        context.SetEndpoint(endpoint);
        var ran = new TaskCompletionSource<(int Thread, bool Pool)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var returned = new TaskCompletionSource<Task>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() => returned.SetResult(InlineRequests.Middleware(context, _ =>
        {
            ran.SetResult((Environment.CurrentManagedThreadId, Thread.CurrentThread.IsThreadPoolThread));
            return Task.CompletedTask;
        })));
        thread.Start();
        await (await returned.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken)).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        var (ranOn, pool) = await ran.Task;
        return (ranOn == thread.ManagedThreadId, pool);
    }

    private sealed class RouteEndpointBuilderStub : IEndpointConventionBuilder
    {
        public List<object> Metadata { get; } = [];

        public void Add(Action<EndpointBuilder> convention)
        {
            var builder = new Stub();
            convention(builder);
            Metadata.AddRange(builder.Metadata);
        }

        private sealed class Stub : EndpointBuilder
        {
            public override Endpoint Build() => throw new NotSupportedException();
        }
    }
}
