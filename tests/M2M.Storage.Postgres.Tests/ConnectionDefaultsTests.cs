using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;

namespace M2M.Storage.Postgres.Tests;

/// <summary><see cref="PostgresConnectionDefaults"/>: statements prepared per connection and no reset round trip, unless the connection string says otherwise.</summary>
public sealed class ConnectionDefaultsTests
{
    private const string Plain = "Host=127.0.0.1;Username=m2m;Password=secret;Database=m2m";

    private static NpgsqlConnectionStringBuilder Applied(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        PostgresConnectionDefaults.Apply(builder, connectionString);
        return builder;
    }

    [Fact]
    public void A_connection_string_without_the_settings_gets_prepared_statements_and_no_reset_on_close()
    {
        var builder = Applied(Plain);

        Assert.Equal(PostgresConnectionDefaults.MaxAutoPrepare, builder.MaxAutoPrepare);
        Assert.Equal(PostgresConnectionDefaults.AutoPrepareMinUsages, builder.AutoPrepareMinUsages);
        Assert.True(builder.NoResetOnClose);
        Assert.Equal("secret", builder.Password);
    }

    [Theory]
    [InlineData(Plain + ";Max Auto Prepare=0;Auto Prepare Min Usages=5;No Reset On Close=false")]
    [InlineData(Plain + ";maxautoprepare=0;AUTO PREPARE MIN USAGES=5;noresetonclose=false")]
    public void Settings_given_in_the_connection_string_are_kept_whatever_their_spelling(string connectionString)
    {
        var builder = Applied(connectionString);

        Assert.Equal(0, builder.MaxAutoPrepare);
        Assert.Equal(5, builder.AutoPrepareMinUsages);
        Assert.False(builder.NoResetOnClose);
    }

    [Fact]
    public void The_backends_data_source_carries_the_defaults_and_a_given_setting()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection([
            new($"ConnectionStrings:{StorageOptions.ConnectionStringName}", Plain + ";Max Auto Prepare=8"),
        ]);
        builder.AddStorage();
        builder.AddPostgresStorage();
        using var host = builder.Build();

        // Resolving the data source opens no connection: nothing here needs a server.
        var settings = new NpgsqlConnectionStringBuilder(host.Services.GetRequiredService<NpgsqlDataSource>().ConnectionString);
        Assert.Equal(8, settings.MaxAutoPrepare);
        Assert.Equal(PostgresConnectionDefaults.AutoPrepareMinUsages, settings.AutoPrepareMinUsages);
        Assert.True(settings.NoResetOnClose);
    }
}
