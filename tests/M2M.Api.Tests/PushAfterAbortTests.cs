using System.Security.Claims;
using M2M.Api.Apis;
using M2M.Messaging;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using static M2M.Api.Tests.Http;

namespace M2M.Api.Tests;

/// <summary>
/// A route that committed a change (a queued command, a setting, new credentials, a deletion) and then
/// pushes it must push it even when the client has gone meanwhile: the change is stored, and a connected
/// device would otherwise get it only at its next identification (or stay connected with revoked credentials).
/// </summary>
[Collection(ApiCollection.Name)]
public class PushAfterAbortTests(ApiFixture fixture)
{
    [Theory]
    [InlineData(Calls.SendCommands)]
    [InlineData(Calls.SendSettings)]
    [InlineData(Calls.Disconnect)]
    public async Task A_push_goes_out_even_when_the_client_has_gone_after_the_change_was_stored(string call)
    {
        var id = Guid.Parse((await DevicesTests.CreateDeviceAsync(fixture.Admin)).GetProperty("id").GetString()!);
        var received = new TaskCompletionSource<BusMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = fixture.Host.Get<IMessageBus>().Subscribe(Topics.Device(id), m =>
        {
            received.TrySetResult(m);
            return ValueTask.CompletedTask;
        });
        using var aborted = new CancellationTokenSource();
        await aborted.CancelAsync();
        var http = new DefaultHttpContext { RequestServices = fixture.Host.App.Services, RequestAborted = aborted.Token };
        var services = ActivatorUtilities.CreateInstance<DeviceServices>(fixture.Host.App.Services, new ClaimsPrincipal(), http);

        await services.PushAsync(id, call);

        var message = await received.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal(call, message.Call);
        Assert.Equal(id.ToString("D"), message.GetString("device_id"));
    }
}
